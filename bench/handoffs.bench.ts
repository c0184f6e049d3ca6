/**
 * `npm run bench:handoffs` — what a hand-off costs, side by side with a plain message, as an SSE
 * client sees it. The product runs as real processes (API and worker, APP_ROLE api|worker from
 * dist/apps/api/src/main.js, offline model at 0 ms per token, memory off) on a database and a
 * Redis key prefix of the benchmark's own (both removed at the end).
 *
 * Each sample is a fresh session of the starter pack, its stream read from the start
 * (GET .../events?from=start, so nothing is missed), one POST, and the frames' own `ts` (set by
 * the publishing process, all on this host's clock):
 *
 * - switch: CodeAssistant gets `/switch DocumentWriter bench`. From the switch_agent
 *   `tool_result` (the switch step, AgentSwitchRequested and the held continuation committed) to
 *   the first `token` of DocumentWriter's continuation: the switching run completes, the event
 *   relay publishes, the saga applies the switch (AgentSwitched) and releases the continuation,
 *   the worker claims it, builds its prompt and the model streams.
 * - direct (baseline): DocumentWriter gets `hello`. From `message_received` (the POST's
 *   transaction committed) to its first `token`: the same claim, prompt and model, with one queue
 *   hop and no saga.
 * - delegation round trip, model time excluded: CodeAssistant gets `/delegate DataAnalyst
 *   {"instruction": "/reply {\"total\": 1}", "returns": {...}}`. Overhead = (child run_started -
 *   delegation_started) + (parent's resumed run_started - child run_completed): starting the
 *   child, and getting the parent going again once the child is done (the child's own execution,
 *   the model's time, is left out and reported apart). Baseline: twice a plain message's
 *   `run_queued` -> `run_started` (two queue hops, nothing else).
 *
 * Rows alternate in BENCH_HANDOFFS_ROUNDS rounds (default 4), after BENCH_HANDOFFS_WARMUP (10)
 * samples of each kind; BENCH_HANDOFFS samples per kind (default 100) in all. Goal: delegation
 * overhead p95 <= 100 ms.
 */
import 'reflect-metadata';
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import {
  benchSetup,
  deleteRedisKeys,
  createBenchProject,
  dropDatabase,
  freePort,
  http,
  percentile,
  printTable,
  startProcess,
  waitUntil,
} from './support';
import { EventStream, type Frame } from './event-stream';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const N = num('BENCH_HANDOFFS', 100);
const WARMUP = num('BENCH_HANDOFFS_WARMUP', 10);
const ROUNDS = Math.max(1, num('BENCH_HANDOFFS_ROUNDS', 4));
const GOAL_P95_MS = 100;
const TOTAL = {
  type: 'object',
  required: ['total'],
  properties: { total: { type: 'integer' } },
};

const ts = (f: Frame) => Date.parse(f.data.ts);
const execution = (f: Frame) => Number(f.data.payload.execution ?? 0);

interface Ctx {
  base: string;
  token: string;
  project: string;
}

const projectUrl = (ctx: Ctx, rest: string) => `${ctx.base}/v1/my/projects/${ctx.project}${rest}`;

/** A fresh session of `agent`, its stream open from the start, one message; the frames. */
async function sample(
  ctx: Ctx,
  agent: string,
  content: string,
  done: (frames: EventStream, runId: string) => Promise<void>,
): Promise<{ stream: EventStream; runId: string }> {
  const session = await http<{ id: string }>(
    'POST',
    projectUrl(ctx, '/sessions'),
    { agent },
    ctx.token,
  );
  if (session.status !== 201) throw new Error(`creating a session answered ${session.status}`);
  const stream = await EventStream.open(
    projectUrl(ctx, `/sessions/${session.body.id}/events?from=start`),
    ctx.token,
  );
  try {
    const sent = await http<{ run: { id: string } }>(
      'POST',
      projectUrl(ctx, `/sessions/${session.body.id}/messages`),
      { content },
      ctx.token,
    );
    if (sent.status !== 202) throw new Error(`POST message answered ${sent.status}`);
    await done(stream, sent.body.run.id);
    return { stream, runId: sent.body.run.id };
  } finally {
    stream.close();
  }
}

/** switch_agent tool_result -> the continuation's first token (ms, by the frames' ts). */
async function switchSample(ctx: Ctx): Promise<number> {
  let result = NaN;
  await sample(ctx, 'CodeAssistant', 'docs\n/switch DocumentWriter bench', async (s, runId) => {
    const switched = await s.waitFor(
      'the switch step',
      (f) => f.type === 'tool_result' && f.data.payload.tool === 'switch_agent',
    );
    const token = await s.waitFor(
      "the new agent's first token",
      (f) => f.type === 'token' && f.data.run_id !== runId,
    );
    await s.waitFor(
      'the continuation to complete',
      (f) => f.type === 'run_completed' && f.data.run_id === token.data.run_id,
    );
    result = ts(token) - ts(switched);
  });
  return result;
}

/** A plain message: message_received -> first token, and run_queued -> run_started. */
async function directSample(ctx: Ctx): Promise<{ firstToken: number; hop: number }> {
  let out = { firstToken: NaN, hop: NaN };
  await sample(ctx, 'DocumentWriter', 'hello', async (s, runId) => {
    const mine = (type: string) => (f: Frame) => f.type === type && f.data.run_id === runId;
    const received = await s.waitFor('message_received', (f) => f.type === 'message_received');
    const queued = await s.waitFor('run_queued', mine('run_queued'));
    const started = await s.waitFor('run_started', mine('run_started'));
    const token = await s.waitFor('the first token', mine('token'));
    await s.waitFor('the end', mine('run_completed'));
    out = { firstToken: ts(token) - ts(received), hop: ts(started) - ts(queued) };
  });
  return out;
}

/** Delegation: overhead (model time excluded), the child's own execution, the whole trip. */
async function delegationSample(
  ctx: Ctx,
): Promise<{ overhead: number; child: number; trip: number }> {
  let out = { overhead: NaN, child: NaN, trip: NaN };
  const call = JSON.stringify({ instruction: '/reply {"total": 1}', returns: TOTAL });
  await sample(ctx, 'CodeAssistant', `count\n/delegate DataAnalyst ${call}`, async (s, runId) => {
    const delegated = await s.waitFor('delegation_started', (f) => f.type === 'delegation_started');
    const childId = String(delegated.data.payload.child_run_id);
    const childStarted = await s.waitFor(
      'the child to start',
      (f) => f.type === 'run_started' && f.data.run_id === childId,
    );
    const childDone = await s.waitFor(
      'the child to finish',
      (f) => f.type === 'run_completed' && f.data.run_id === childId,
    );
    const resumed = await s.waitFor(
      'the parent to resume',
      (f) => f.type === 'run_started' && f.data.run_id === runId && execution(f) >= 2,
    );
    await s.waitFor(
      'the parent to finish',
      (f) => f.type === 'run_completed' && f.data.run_id === runId,
    );
    out = {
      overhead: ts(childStarted) - ts(delegated) + (ts(resumed) - ts(childDone)),
      child: ts(childDone) - ts(childStarted),
      trip: ts(resumed) - ts(delegated),
    };
  });
  return out;
}

const row = (name: string, values: number[]) => {
  const v = values.filter(Number.isFinite);
  return [
    name,
    String(v.length),
    `${percentile(v, 50).toFixed(1)} ms`,
    `${percentile(v, 95).toFixed(1)} ms`,
    `${percentile(v, 99).toFixed(1)} ms`,
  ];
};

async function main(): Promise<void> {
  const setup = await benchSetup('handoffs');
  const { tag, dbName, prefix, dir, port, base } = setup;
  const api = startProcess({ ...setup.env, APP_ROLE: 'api', PORT: String(port) });
  let worker: ChildProcess | undefined;
  try {
    await waitUntil('the API', async () => (await fetch(`${base}/ready`)).status === 200);
    const workerPort = await freePort();
    worker = startProcess({
      ...setup.env,
      APP_ROLE: 'worker',
      WORKER_PORT: String(workerPort),
      DB_MIGRATE_ON_START: 'false',
    });
    await waitUntil(
      'the worker',
      async () => (await fetch(`http://127.0.0.1:${workerPort}/ready`)).status === 200,
    );
    const { token, project, agents } = await createBenchProject(base, tag);
    const ctx: Ctx = { base, token, project };
    for (const a of agents)
      await http('PATCH', projectUrl(ctx, `/agents/${a.id}`), { memory_enabled: false }, token);

    for (let i = 0; i < WARMUP; i++) {
      await switchSample(ctx);
      await directSample(ctx);
      await delegationSample(ctx);
    }
    const switches: number[] = [];
    const direct: { firstToken: number; hop: number }[] = [];
    const delegations: { overhead: number; child: number; trip: number }[] = [];
    const perRound = Math.ceil(N / ROUNDS);
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < perRound && switches.length < N; i++) {
        // The order flips each round: drift on a shared machine hits every row.
        if (r % 2 === 0) {
          switches.push(await switchSample(ctx));
          direct.push(await directSample(ctx));
          delegations.push(await delegationSample(ctx));
        } else {
          delegations.push(await delegationSample(ctx));
          direct.push(await directSample(ctx));
          switches.push(await switchSample(ctx));
        }
      }
    }

    process.stdout.write(
      `\nHand-offs, ${N} samples per row in ${ROUNDS} rounds (after ${WARMUP} warm-up each); API + 1 worker, offline model at 0 ms/token\n`,
    );
    printTable(
      ['path (frames’ ts)', 'n', 'p50', 'p95', 'p99'],
      [
        row('switch: switch_agent result -> new agent first token', switches),
        row(
          'baseline: message_received -> first token (direct)',
          direct.map((d) => d.firstToken),
        ),
        row(
          `delegation overhead (goal p95 <= ${GOAL_P95_MS} ms)`,
          delegations.map((d) => d.overhead),
        ),
        row(
          'baseline: 2 x run_queued -> run_started (direct)',
          direct.map((d) => 2 * d.hop),
        ),
        row(
          '  child execution (model time, not overhead)',
          delegations.map((d) => d.child),
        ),
        row(
          '  delegation_started -> parent resumed',
          delegations.map((d) => d.trip),
        ),
      ],
    );
    const p95 = percentile(delegations.map((d) => d.overhead).filter(Number.isFinite), 95);
    process.stdout.write(
      `\nDelegation overhead p95 ${p95.toFixed(1)} ms: ${p95 <= GOAL_P95_MS ? 'meets' : 'misses'} the goal (<= ${GOAL_P95_MS} ms)\n`,
    );
  } finally {
    for (const p of [worker, api]) {
      if (!p || p.exitCode !== null) continue;
      p.kill('SIGTERM');
      await once(p, 'exit');
    }
    await deleteRedisKeys(prefix);
    await dropDatabase(dbName);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
