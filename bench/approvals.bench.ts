/**
 * `npm run bench:approvals` — how fast an approved tool call gets going again, side by side with
 * how fast a new message gets going, both as an SSE client sees it. The product runs as real
 * processes (API and worker, APP_ROLE api|worker from dist/apps/api/src/main.js, offline model at
 * 0 ms per token) on a database and a Redis key prefix of the benchmark's own
 * (codelab_bench_approvals_<tag>, codelab-bench:<tag>:), both removed at the end; the load comes
 * from this process. The agent is the starter pack's CodeAssistant (role coder: writes need
 * approval), memory disabled; the project's approval deadline is raised to an hour so no parked
 * approval expires while it waits its turn.
 *
 * Decision row. BENCH_APPROVALS sessions (default 200, plus BENCH_APPROVALS_WARMUP) each get the
 * message `do it\n/tool write_file {"path":"bench/f<i>.txt","content":"x"}`: one model turn
 * calling write_file, which parks the run (`awaiting_approval`) on an approval. All of them are
 * parked first (16 POSTs at a time), and their approvals listed (GET .../approvals?session_id=
 * &status=pending: id, args_digest). Then, one at a time: an SSE connection is opened on the
 * session (GET .../sessions/{sid}/events, no `from=start`: live events only), the bench waits
 * until the API reports the client subscribed (its codelab_sse_clients gauge, set once the
 * stream hub reads that session's stream, so no event can be missed), then sends POST
 * .../approvals/{id}/approve {args_digest}. Measured from just before that POST is sent (this
 * process's clock) to the arrival at the client of the first frame of the resumed execution:
 * `run_started` with payload.execution >= 2 (the worker publishes it right after claiming the
 * run; the approved write_file runs after it). Also, from the same instant: the POST's answer
 * (200), the arrival of `approval_resolved` (published by the API after the decision commits),
 * `run_queued` (after the resume commits), `tool_result` (the approved call) and `run_completed`.
 *
 * Baseline row, same run: a fresh idle session of the same agent with an open SSE connection
 * (same gating), POST .../messages {content: "hello"} (no tools): from just before the POST to
 * the arrival of `run_started` (execution 1); also the 202, `message_received` (published by the
 * API after the POST commits) and `run_completed`.
 *
 * The rows alternate in BENCH_APPROVALS_ROUNDS rounds (default 4, the order flipping each round),
 * so drift on a shared machine hits both, after BENCH_APPROVALS_WARMUP (10) of each, not counted.
 * After each sample the connection is closed and the bench waits BENCH_APPROVALS_PAUSE_MS (50)
 * so the previous run's tail (slot release, job completion, outbox clean-up) stays out of the
 * next measurement.
 *
 * Where the time goes: a second table splits the path to run_started by the timestamps the
 * processes themselves record, all on this host's clock at millisecond resolution: the event
 * envelopes' `ts` (set when the event is published), the BullMQ job's `timestamp` (Date.now()
 * in the API as queue.add builds the job) and `processedOn` (the worker taking the job): sent ->
 * approval_resolved / message_received ts (API: HTTP, auth, the decision or POST transaction) ->
 * job added (for a decision: the resume transaction) -> processedOn (BullMQ pickup) ->
 * run_started ts (engine: run read, lane head, handler prepare, agent slot, claim) -> arrival at
 * the client (Redis Stream append by the worker, the API's shared XREAD, SSE write, this
 * process's parse).
 *
 * Goal: decision -> resumed run_started p95 <= 250 ms. Knobs: BENCH_APPROVALS (200),
 * BENCH_APPROVALS_WARMUP (10), BENCH_APPROVALS_ROUNDS (4), BENCH_APPROVALS_PAUSE_MS (50),
 * BENCH_WORKER_CONCURRENCY (8, the product's default); BENCH_POSTGRES_URL, BENCH_REDIS_URL
 * (bench/support.ts).
 */
import 'reflect-metadata';
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import {
  createBenchProject,
  dropDatabase,
  freePort,
  http,
  percentile,
  printTable,
  REDIS_URL,
  startProcess,
  waitUntil,
  benchSetup,
  deleteRedisKeys,
} from './support';
import { EventStream, type Frame } from './event-stream';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const N = num('BENCH_APPROVALS', 200);
const WARMUP = num('BENCH_APPROVALS_WARMUP', 10);
const ROUNDS = Math.max(1, num('BENCH_APPROVALS_ROUNDS', 4));
const PAUSE_MS = num('BENCH_APPROVALS_PAUSE_MS', 50);
const WORKER_CONCURRENCY = num('BENCH_WORKER_CONCURRENCY', 8);
const GOAL_P95_MS = 250;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f1 = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(1)} ms` : 'n/a');

/** Machine-wide CPU counters (all cores), to report how busy the machine was. */
function machineCpu(): { busy: number; total: number } {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = v.map(Number);
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - n[3] - n[4], total };
}

const FINAL_EVENTS = ['run_completed', 'run_failed', 'run_cancelled'];
const executionOf = (f: Frame) => Number(f.data.payload.execution ?? 0);

interface Ctx {
  base: string;
  token: string;
  project: string;
  pg: Client;
  redis: Redis;
  prefix: string;
}

interface Sample {
  runId: string;
  /** Wall clock (Date.now()) just before the POST. */
  sentWall: number;
  /** ms after the POST was sent, by milestone (answer, event type). */
  after: Record<string, number>;
  /** The envelopes' own ts (epoch ms), by event type. */
  ts: Record<string, number>;
  /** Wall clock of run_started's arrival. */
  startedWall: number;
  /** BullMQ job of the execution measured (filled in at the end). */
  jobAdded?: number;
  processedOn?: number;
}

/** Where the API serves /metrics (METRICS_PORT), set when it starts. */
let metricsBase = '';

/** The API's count of subscribed SSE clients (its codelab_sse_clients gauge). */
async function sseClients(): Promise<number> {
  const text = await (await fetch(`${metricsBase}/metrics`)).text();
  const m = /^codelab_sse_clients(?:\{[^}]*\})? (\S+)$/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

async function waitForSseClients(n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await sseClients()) !== n) {
    if (Date.now() > deadline) throw new Error(`the API never reported ${n} SSE clients`);
    await sleep(2);
  }
}

const projectUrl = (ctx: Ctx, rest: string) => `${ctx.base}/v1/my/projects/${ctx.project}${rest}`;

/**
 * One sample: open the session's SSE stream, wait until it is subscribed, send the POST, wait for
 * the run to end. `started` picks the run_started frame measured.
 */
async function measure(
  ctx: Ctx,
  session: string,
  post: () => Promise<{ status: number; runId: string }>,
  expectedStatus: number,
  started: (f: Frame) => boolean,
  milestones: string[],
): Promise<Sample> {
  const stream = await EventStream.open(projectUrl(ctx, `/sessions/${session}/events`), ctx.token);
  try {
    await waitForSseClients(1);
    const sentWall = Date.now();
    const sentPerf = performance.now();
    const answer = post().then((r) => ({ ...r, perf: performance.now() }));
    // Awaited below; if the events never come, its own failure must not go unhandled.
    answer.catch(() => undefined);
    const start = await stream.waitFor('run_started', started);
    const end = await stream.waitFor('the end of the run', (f) => FINAL_EVENTS.includes(f.type));
    const answered = await answer;
    if (answered.status !== expectedStatus)
      throw new Error(`POST answered ${answered.status}, expected ${expectedStatus}`);
    if (end.type !== 'run_completed')
      throw new Error(`run ${answered.runId} ended with ${end.type}: ${JSON.stringify(end.data)}`);
    const after: Record<string, number> = {
      answer: answered.perf - sentPerf,
      run_started: start.perf - sentPerf,
    };
    const ts: Record<string, number> = { run_started: Date.parse(start.data.ts) };
    for (const type of milestones) {
      const f = stream.first((x) => x.type === type && x.perf >= sentPerf);
      if (!f) throw new Error(`no ${type} for run ${answered.runId}`);
      after[type] = f.perf - sentPerf;
      ts[type] = Date.parse(f.data.ts);
    }
    return { runId: answered.runId, sentWall, after, ts, startedWall: start.wall };
  } finally {
    stream.close();
    await waitForSseClients(0);
    await sleep(PAUSE_MS);
  }
}

interface Parked {
  session: string;
  approval: { id: string; run_id: string; args_digest: string };
}

function decide(ctx: Ctx, p: Parked): Promise<Sample> {
  return measure(
    ctx,
    p.session,
    async () => {
      const res = await http(
        'POST',
        projectUrl(ctx, `/approvals/${p.approval.id}/approve`),
        { args_digest: p.approval.args_digest },
        ctx.token,
      );
      return { status: res.status, runId: p.approval.run_id };
    },
    200,
    (f) => f.type === 'run_started' && executionOf(f) >= 2,
    ['approval_resolved', 'run_queued', 'tool_result', 'run_completed'],
  );
}

function hello(ctx: Ctx, session: string): Promise<Sample> {
  return measure(
    ctx,
    session,
    async () => {
      const res = await http<{ run: { id: string } }>(
        'POST',
        projectUrl(ctx, `/sessions/${session}/messages`),
        { content: 'hello' },
        ctx.token,
      );
      return { status: res.status, runId: res.body.run?.id };
    },
    202,
    (f) => f.type === 'run_started' && executionOf(f) === 1,
    ['message_received', 'run_queued', 'run_completed'],
  );
}

/** Runs `fn` over `items`, `parallel` at a time. */
async function pool<T, R>(items: T[], parallel: number, fn: (t: T, i: number) => Promise<R>) {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

async function createSessions(ctx: Ctx, agent: string, n: number): Promise<string[]> {
  return pool(Array.from({ length: n }), 8, async () => {
    const res = await http<{ id: string }>(
      'POST',
      projectUrl(ctx, '/sessions'),
      { agent },
      ctx.token,
    );
    if (res.status !== 201) throw new Error(`creating a session answered ${res.status}`);
    return res.body.id;
  });
}

/** Parks one run per session on a write_file approval; returns the pending approvals. */
async function park(ctx: Ctx, sessions: string[]): Promise<Parked[]> {
  const runIds = await pool(sessions, 16, async (session, i) => {
    const call = JSON.stringify({ path: `bench/f${i}.txt`, content: 'x' });
    const res = await http<{ run: { id: string } }>(
      'POST',
      projectUrl(ctx, `/sessions/${session}/messages`),
      { content: `do it\n/tool write_file ${call}` },
      ctx.token,
    );
    if (res.status !== 202) throw new Error(`parking POST answered ${res.status}`);
    return res.body.run.id;
  });
  await waitUntil(
    'the runs to park',
    async () => {
      const { rows } = await ctx.pg.query<{ status: string; n: number }>(
        `select status, count(*)::int as n from runs where id = any($1) group by status`,
        [runIds],
      );
      const wrong = rows.filter(
        (r) => !['queued', 'running', 'awaiting_approval'].includes(r.status),
      );
      if (wrong.length) throw new Error(`runs that did not park: ${JSON.stringify(wrong)}`);
      return rows.find((r) => r.status === 'awaiting_approval')?.n === runIds.length;
    },
    300_000,
  ).catch(async (error: unknown) => {
    // waitUntil swallows the check's own errors: say what the runs did.
    const { rows } = await ctx.pg.query(
      `select status, error, count(*)::int as n from runs where id = any($1) group by 1, 2`,
      [runIds],
    );
    throw new Error(`${(error as Error).message}: ${JSON.stringify(rows)}`);
  });
  return pool(sessions, 8, async (session, i) => {
    const res = await http<{ items: Parked['approval'][] }>(
      'GET',
      projectUrl(ctx, `/approvals?session_id=${session}&status=pending`),
      undefined,
      ctx.token,
    );
    const [approval] = res.body.items ?? [];
    if (res.status !== 200 || res.body.items.length !== 1 || approval.run_id !== runIds[i])
      throw new Error(
        `listing the approval of ${session}: ${res.status} ${JSON.stringify(res.body)}`,
      );
    return { session, approval };
  });
}

/** The BullMQ job of each sample's run's current dispatch: added (timestamp) and taken (processedOn). */
async function attachJobs(ctx: Ctx, samples: Sample[]): Promise<void> {
  const { rows } = await ctx.pg.query<{ id: string; dispatches: number }>(
    'select id, dispatches from runs where id = any($1)',
    [samples.map((s) => s.runId)],
  );
  const dispatches = new Map(rows.map((r) => [r.id, r.dispatches]));
  for (const s of samples) {
    const key = `${ctx.prefix}bull:agent-runs:${s.runId}.${dispatches.get(s.runId)}`;
    const [timestamp, processedOn] = await ctx.redis.hmget(key, 'timestamp', 'processedOn');
    s.jobAdded = timestamp ? Number(timestamp) : undefined;
    s.processedOn = processedOn ? Number(processedOn) : undefined;
  }
}

interface Result {
  decisions: Sample[];
  baseline: Sample[];
  machineBusy: number;
}

async function main(): Promise<void> {
  const setup = await benchSetup('approvals');
  const { tag, dbName, prefix, dir, port, base, dbUrl } = setup;
  const common = setup.env;
  // The API serves /metrics (the SSE client gauge) on its own port.
  const metricsPort = await freePort();
  metricsBase = `http://127.0.0.1:${metricsPort}`;
  const api = startProcess({
    ...common,
    APP_ROLE: 'api',
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
  });
  let worker: ChildProcess | undefined;
  const pg = new Client({ connectionString: dbUrl });
  let pgOpen = false;
  const redis = new Redis(REDIS_URL);
  let result: Result;
  try {
    await waitUntil('the API', async () => (await fetch(`${base}/ready`)).status === 200);
    const workerPort = await freePort();
    worker = startProcess({
      ...common,
      APP_ROLE: 'worker',
      WORKER_PORT: String(workerPort),
      WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
      DB_MIGRATE_ON_START: 'false',
    });
    await waitUntil(
      'the worker',
      async () => (await fetch(`http://127.0.0.1:${workerPort}/ready`)).status === 200,
    );
    const { token, project } = await createBenchProject(base, tag);
    await pg.connect();
    pgOpen = true;
    const ctx: Ctx = { base, token, project, pg, redis, prefix };

    const agents = (
      await http<{ items: { id: string; name: string }[] }>(
        'GET',
        projectUrl(ctx, '/agents'),
        undefined,
        token,
      )
    ).body.items;
    const coder = agents.find((a) => a.name === 'CodeAssistant');
    if (!coder) throw new Error('no CodeAssistant in the starter pack');
    const patched = await http(
      'PATCH',
      projectUrl(ctx, `/agents/${coder.id}`),
      { memory_enabled: false },
      token,
    );
    if (patched.status !== 200) throw new Error(`disabling memory answered ${patched.status}`);
    const settings = await http(
      'PATCH',
      projectUrl(ctx, ''),
      { settings: { approval_deadline_seconds: 3600 } },
      token,
    );
    if (settings.status !== 200)
      throw new Error(`raising the approval deadline answered ${settings.status}`);

    const total = N + WARMUP;
    const parkedSessions = await createSessions(ctx, coder.id, total);
    const idleSessions = await createSessions(ctx, coder.id, total);
    process.stdout.write(`parking ${total} runs on write_file approvals...\n`);
    const parked = await park(ctx, parkedSessions);
    process.stdout.write(`measuring ${N} decisions and ${N} messages...\n`);

    for (let i = 0; i < WARMUP; i++) {
      await decide(ctx, parked[N + i]);
      await hello(ctx, idleSessions[N + i]);
    }
    const decisions: Sample[] = [];
    const baseline: Sample[] = [];
    const perRound = Math.ceil(N / ROUNDS);
    const m0 = machineCpu();
    for (let r = 0; r < ROUNDS; r++) {
      const from = r * perRound;
      const to = Math.min(N, from + perRound);
      const rows = [
        async () => {
          for (let i = from; i < to; i++) decisions.push(await decide(ctx, parked[i]));
        },
        async () => {
          for (let i = from; i < to; i++) baseline.push(await hello(ctx, idleSessions[i]));
        },
      ];
      if (r % 2 === 1) rows.reverse();
      for (const row of rows) await row();
    }
    const m1 = machineCpu();
    await attachJobs(ctx, decisions);
    await attachJobs(ctx, baseline);
    result = { decisions, baseline, machineBusy: (m1.busy - m0.busy) / (m1.total - m0.total) };
  } finally {
    worker?.kill('SIGTERM');
    api.kill('SIGTERM');
    const running = (p?: ChildProcess) => p && p.exitCode === null && p.signalCode === null;
    await Promise.all(
      [worker, api].map(async (p) => {
        if (!p || !running(p)) return;
        await Promise.race([once(p, 'exit'), sleep(10_000)]);
        // Nothing may write under the prefix once it is being removed.
        if (running(p)) {
          p.kill('SIGKILL');
          await Promise.race([once(p, 'exit'), sleep(5_000)]);
        }
      }),
    );
    redis.disconnect();
    if (pgOpen) await pg.end().catch(() => undefined);
    await dropDatabase(dbName).catch(() => undefined);
    await deleteRedisKeys(prefix).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  report(result);
}

function report({ decisions, baseline, machineBusy }: Result): void {
  const cells = (values: number[]) => [
    String(values.length),
    f1(percentile(values, 50)),
    f1(percentile(values, 95)),
    f1(percentile(values, 99)),
    f1(values.length ? Math.max(...values) : NaN),
  ];
  const after = (samples: Sample[], key: string) => samples.map((s) => s.after[key]);
  /** A segment between two recorded instants, for the samples that have both. */
  const segment = (samples: Sample[], a: (s: Sample) => number | undefined, b: typeof a) =>
    samples.flatMap((s) => {
      const [x, y] = [a(s), b(s)];
      return x === undefined || y === undefined ? [] : [y - x];
    });

  process.stdout.write(
    `\nDecision -> resumed run vs POST message -> run start, as an SSE client sees them (${N} per row, ` +
      `${ROUNDS} alternating rounds, after ${WARMUP} warm-up each; one at a time; worker concurrency ` +
      `${WORKER_CONCURRENCY}; offline model at 0 ms/token; machine ${(100 * machineBusy).toFixed(0)} % busy)`,
  );
  printTable(
    ['', 'n', 'p50', 'p95', 'p99', 'max'],
    [
      [
        'decision: POST approve sent -> resumed run_started (execution >= 2) arrives',
        ...cells(after(decisions, 'run_started')),
      ],
      ['  -> approve answered (200)', ...cells(after(decisions, 'answer'))],
      ['  -> approval_resolved arrives', ...cells(after(decisions, 'approval_resolved'))],
      ['  -> run_queued arrives', ...cells(after(decisions, 'run_queued'))],
      [
        '  -> tool_result (the approved write_file) arrives',
        ...cells(after(decisions, 'tool_result')),
      ],
      ['  -> run_completed arrives', ...cells(after(decisions, 'run_completed'))],
      [
        'baseline: POST message sent -> run_started (execution 1) arrives',
        ...cells(after(baseline, 'run_started')),
      ],
      ['  -> message answered (202)', ...cells(after(baseline, 'answer'))],
      ['  -> message_received arrives', ...cells(after(baseline, 'message_received'))],
      ['  -> run_queued arrives', ...cells(after(baseline, 'run_queued'))],
      ['  -> run_completed arrives', ...cells(after(baseline, 'run_completed'))],
    ],
  );
  const p95 = percentile(after(decisions, 'run_started'), 95);
  process.stdout.write(
    `goal decision -> resumed run_started p95 <= ${GOAL_P95_MS} ms: ${p95.toFixed(1)} ms ${p95 <= GOAL_P95_MS ? 'MET' : 'MISSED'}\n`,
  );

  const path = (samples: Sample[], first: string, label: string) => [
    [
      `${label}: POST sent -> ${first} ts (API: HTTP, auth, ${first === 'approval_resolved' ? 'decision' : 'POST'} transaction)`,
      ...cells(
        segment(
          samples,
          (s) => s.sentWall,
          (s) => s.ts[first],
        ),
      ),
    ],
    [
      `  ${first} ts -> job added (${first === 'approval_resolved' ? 'resume transaction, ' : ''}queue.add)`,
      ...cells(
        segment(
          samples,
          (s) => s.ts[first],
          (s) => s.jobAdded,
        ),
      ),
    ],
    [
      '  job added -> processedOn (BullMQ pickup)',
      ...cells(
        segment(
          samples,
          (s) => s.jobAdded,
          (s) => s.processedOn,
        ),
      ),
    ],
    [
      '  processedOn -> run_started ts (engine: read, prepare, slot, claim)',
      ...cells(
        segment(
          samples,
          (s) => s.processedOn,
          (s) => s.ts.run_started,
        ),
      ),
    ],
    [
      '  run_started ts -> arrives (stream append, API XREAD, SSE write)',
      ...cells(
        segment(
          samples,
          (s) => s.ts.run_started,
          (s) => s.startedWall,
        ),
      ),
    ],
  ];
  process.stdout.write(
    `\nWhere the time to run_started goes (timestamps the processes record: envelope ts, BullMQ job timestamp/processedOn; one clock, 1 ms resolution)`,
  );
  printTable(
    ['', 'n', 'p50', 'p95', 'p99', 'max'],
    [
      ...path(decisions, 'approval_resolved', 'decision'),
      ...path(baseline, 'message_received', 'baseline'),
    ],
  );
}

void main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
