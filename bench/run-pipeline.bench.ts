/**
 * `npm run bench:runs` — the run engine on this machine, each product number next to a bare
 * baseline measured in the same run. The product runs as real processes (API and worker, APP_ROLE
 * api|worker from dist/apps/api/src/main.js) on a database and a Redis key prefix of the
 * benchmark's own (codelab_bench_<tag>, codelab-bench:<tag>:), both removed at the end; the load
 * comes from this process. The worker always runs with bench/probe.js preloaded (see C).
 *
 * A. POST message -> 202 at fixed rates (BENCH_A_RATES, default "200,100" per second; the goals
 *    are for the first rate, the second shows the latency where the API is not saturated), no
 *    worker running (the pure accept path). Every POST goes to a session of its own, so each one
 *    takes the whole path: head of its lane -> dispatch + outbox row -> queue.add -> outbox
 *    delete. Baseline: bench/bare-accept-server.ts, a node:http process issuing the product's SQL
 *    statement for statement (project check; begin; session; agent; lane lock; active runs of the
 *    lane; seq bump; message insert; run insert; lane head; dispatch update; outbox insert; run
 *    re-read; commit; queue.add; outbox delete) on a plain `pg` Pool of the product's size,
 *    behind the same HTTP client; a third row calls the same function in this process (no HTTP).
 *    Latency counts from each request's scheduled time. After a warm-up, product and bares
 *    alternate in rounds, so drift on a shared machine hits all of them. Each row also shows the
 *    CPU its serving process and the bench database's PostgreSQL backends spent per request
 *    (/proc) and how busy the machine was. Goals: product p50 <= bare p50 + 1 ms, p99 <= 10 ms.
 *
 * B. Enqueue -> run start at BENCH_B_RATE (20/s), each message to an idle session, measured the
 *    same way for both: from the BullMQ job's own `timestamp` (Date.now() in the producer when
 *    queue.add builds the job, i.e. right after the product's commit) to the start of execution:
 *    for the product the run's `started_at` (PostgreSQL clock, set by the claim that makes the run
 *    `running`), for the bare no-op worker the processor's first line (same host, same clock).
 *    The bare worker and queue have the product's options (concurrency, lock, stall check,
 *    connections, job options). The product row is split into BullMQ pickup (job processedOn -
 *    timestamp, ms resolution) and the engine before the claim (processedOn -> started_at: run
 *    read, lane head check, handler prepare, agent slot, claim). A last row gives the POST's
 *    accepted time (runs.created_at: the POST transaction's start) -> started_at. Goal: product
 *    p99 <= 1.5 x bare p99.
 *
 * C. Platform time per tool-loop step. BENCH_C_RUNS runs, one at a time, each scripted for the
 *    offline model (0 ms per token) as BENCH_C_CALLS sequential `test_read` calls (delay 0), i.e.
 *    2N+1 steps: llm, tool, llm, ..., llm. From the journal (run_steps, microsecond timestamps:
 *    the rows GET .../runs/{r}/steps returns), per step i:
 *      duration = finished_at(i) - started_at(i)       (the journal's duration_ms)
 *      gap      = started_at(i+1) - finished_at(i)     (between two steps: pure platform time)
 *      cycle    = started_at(i+1) - started_at(i)      (last step: to the run's finished_at)
 *      platform = cycle - the model call (llm step) or the tool call (tool step) it contains
 *    Model and tool time come from bench/probe.ts in the worker, which wraps ModelCaller.call and
 *    every tool's execute() (tool calls matched by run and step, model calls by order: runs go
 *    one at a time); the worker's codelab_llm_request_duration_seconds and
 *    codelab_run_step_duration_seconds means are printed as a cross-check. PostgreSQL's now() is
 *    the transaction's start, so started_at/finished_at are the starts of the journal
 *    transactions that open and close a step. test_read with delay 0 still waits one timer tick
 *    (~1.1 ms), which counts as tool time. Goal: platform p50 <= 5 ms.
 *
 * D. End-to-end direct calls per second (BENCH_THROUGHPUT_RUNS, default 400; 0 skips).
 *
 * Profiling (numbers taken this way are inflated; judge goals on plain runs):
 *   BENCH_PROFILE=sql  the API runs with the probe too. A prints the product's SQL statements and
 *                      Redis commands per request under load, and a trace of single POSTs (each
 *                      statement/command in order: time before it = JS in the API, time in it =
 *                      the round trip); B traces single run starts (pickup -> claim); C prints
 *                      the worker's traffic per step and traces one llm and one tool step cycle.
 *   BENCH_PROFILE=cpu  that, plus V8 CPU profiles of the API over the first A round and of the
 *                      worker over the C runs (started/stopped through the probe, so they cover
 *                      exactly those phases), summarised per request / per step by layer,
 *                      package and function, and kept (`npm run bench:cpu-profile -- <file>`).
 *   `npm run bench:runs:profile` = BENCH_PROFILE=cpu at 100/s, without D.
 * Other knobs: BENCH_PARTS (default A,B,C,D), BENCH_A_POSTS (2000 per row and rate),
 * BENCH_A_WARMUP (400), BENCH_A_ROUNDS (2), BENCH_B_RATE, BENCH_B_RUNS (200), BENCH_C_RUNS (20),
 * BENCH_C_CALLS (20), BENCH_C_TOOL (test_read, or read_file: a 100 KiB workspace file, the
 * workspace tool's whole path), BENCH_WORKER_CONCURRENCY (8, the product's default); BENCH_POSTGRES_URL,
 * BENCH_REDIS_URL (bench/support.ts).
 */
import 'reflect-metadata';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Client } from 'pg';
import { createBareAccept, redisOptions } from './bare-accept';
import { printProfileSummary, summariseCpuProfile } from './cpu-profile';
import type { Probe, ProbedCall, ProbedStatement } from './probe';
import {
  atFixedRate,
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

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
/** The first rate is the goal's; further ones show the latency where the API is not saturated. */
const A_RATES = (process.env.BENCH_A_RATES ?? process.env.BENCH_A_RATE ?? '200,100')
  .split(',')
  .map(Number);
const A_POSTS = num('BENCH_A_POSTS', num('BENCH_POSTS', 2000));
const A_WARMUP = num('BENCH_A_WARMUP', 400);
const A_ROUNDS = num('BENCH_A_ROUNDS', 2);
const B_RATE = num('BENCH_B_RATE', 20);
const B_RUNS = num('BENCH_B_RUNS', 200);
const C_RUNS = num('BENCH_C_RUNS', 20);
const C_CALLS = num('BENCH_C_CALLS', 20);
/** test_read (default) or read_file (a 100 KiB workspace file through the workspace tool). */
const C_TOOL = process.env.BENCH_C_TOOL ?? 'test_read';
const C_FILE = 'bench/file-100k.txt';
const cToolCall = (i: number) =>
  C_TOOL === 'read_file'
    ? `/tool read_file {"path":"${C_FILE}","max_bytes":262144}`
    : `/tool test_read {"text":"step ${i}","delay_ms":0}`;
const D_RUNS = num('BENCH_THROUGHPUT_RUNS', 400);
const WORKER_CONCURRENCY = num('BENCH_WORKER_CONCURRENCY', 8);
const RUN_JOB_LOCK_MS = 5_000; // the product's default RUN_JOB_LOCK_MS
/** BENCH_PROFILE=sql: probe the API (SQL/Redis reports, serial trace); =cpu or 1: and --cpu-prof. */
const PROFILE = process.env.BENCH_PROFILE ?? '';
const PROBE_API = ['1', 'sql', 'cpu'].includes(PROFILE);
const CPU_PROFILE = ['1', 'cpu'].includes(PROFILE);
/** Which parts to run, e.g. BENCH_PARTS=A or A,C (default all). */
const PARTS = new Set((process.env.BENCH_PARTS ?? 'A,B,C,D').toUpperCase().split(','));

/** CPU time (user + system) a process used so far, ms (clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU time used so far by each PostgreSQL backend connected to `db` (pid -> ms). */
function pgCpu(db: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.startsWith('postgres: ') && cmd.includes(` ${db} `))
        out.set(Number(pid), cpuMs(Number(pid)));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** CPU the backends used between two snapshots (backends that exited meanwhile are not counted). */
function pgCpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** Machine-wide CPU counters (all cores), to report how busy the machine was during a phase. */
function machineCpu(): { busy: number; total: number } {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = v.map(Number);
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - n[3] - n[4], total };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f2 = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(2)} ms` : 'n/a');

interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}
function stats(values: number[]): Stats {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : NaN,
    mean: values.reduce((a, b) => a + b, 0) / (values.length || 1),
  };
}
const statCells = (s: Stats) => [String(s.n), f2(s.p50), f2(s.p95), f2(s.p99), f2(s.max)];
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');

interface Ctx {
  tag: string;
  dir: string;
  prefix: string;
  dbUrl: string;
  base: string;
  token: string;
  project: string;
  ownerId: string;
  agents: { id: string; name: string }[];
  pg: Client;
  api: ChildProcess;
  apiProbe: string;
}

async function main(): Promise<void> {
  const setup = await benchSetup('');
  const { tag, dbName, prefix, dir, port, base, dbUrl } = setup;
  const common = {
    ...setup.env,
    // The API validates agents' tool lists against it; the worker registers the tools.
    TEST_TOOLS: 'true',
    TEST_TOOLS_DIR: join(dir, 'test-tools'),
  };
  const probeArgs = ['--require', join(__dirname, 'probe.js')];
  const apiProbe = join(dir, 'api-probe.json');
  const api = startProcess(
    { ...common, APP_ROLE: 'api', PORT: String(port), BENCH_PROBE_FILE: apiProbe },
    PROBE_API ? probeArgs : [],
  );
  let worker: ChildProcess | undefined;
  const pg = new Client({ connectionString: dbUrl });
  let pgOpen = false;
  try {
    await waitUntil('the API', async () => (await fetch(`${base}/ready`)).status === 200);
    const project = await createBenchProject(base, tag);
    await pg.connect();
    pgOpen = true;
    const ownerId = (
      await pg.query<{ owner_id: string }>('select owner_id from projects where id = $1', [
        project.project,
      ])
    ).rows[0].owner_id;
    const agents = (
      await pg.query<{ id: string; name: string }>(
        'select id, name from agents where project_id = $1 order by created_at, id',
        [project.project],
      )
    ).rows;
    const ctx: Ctx = {
      tag,
      dir,
      prefix,
      dbUrl,
      base,
      token: project.token,
      project: project.project,
      ownerId,
      agents,
      pg,
      api,
      apiProbe,
    };
    const agentsUrl = `${base}/v1/my/projects/${ctx.project}/agents`;
    // A, B: no memory (its recall/store is not what is measured). C: the test tool, long loops.
    await http('PATCH', `${agentsUrl}/${agents[0].id}`, { memory_enabled: false }, ctx.token);
    const c = await http(
      'PATCH',
      `${agentsUrl}/${agents[1].id}`,
      { memory_enabled: false, tools: [C_TOOL], max_steps: 100 },
      ctx.token,
    );
    if (c.status !== 200) throw new Error(`configuring the C agent answered ${c.status}`);
    if (C_TOOL === 'read_file') {
      // 100 KiB of text lines in the project's workspace.
      const line = (i: number) => `${String(i).padStart(6, '0')} ${'lorem ipsum '.repeat(7)}\n`;
      let text = '';
      for (let i = 0; Buffer.byteLength(text) < 100 * 1024; i++) text += line(i);
      const put = await fetch(
        `${base}/v1/my/projects/${ctx.project}/workspace/files?path=${encodeURIComponent(C_FILE)}`,
        {
          method: 'PUT',
          headers: { authorization: `Bearer ${ctx.token}`, 'content-type': 'text/plain' },
          body: text.slice(0, 100 * 1024),
        },
      );
      if (put.status !== 201) throw new Error(`seeding the C file answered ${put.status}`);
    }

    const a: AcceptResult[] = [];
    if (PARTS.has('A'))
      for (const [i, rate] of A_RATES.entries()) a.push(await benchAccept(ctx, rate, i === 0));
    await clearBacklog(ctx);

    const workerPort = await freePort();
    const workerProbe = join(dir, 'worker-probe.json');
    worker = startProcess(
      {
        ...common,
        APP_ROLE: 'worker',
        WORKER_PORT: String(workerPort),
        WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
        DB_MIGRATE_ON_START: 'false',
        BENCH_PROBE_FILE: workerProbe,
      },
      probeArgs,
    );
    const workerBase = `http://127.0.0.1:${workerPort}`;
    await waitUntil('the worker', async () => (await fetch(`${workerBase}/ready`)).status === 200);

    const b = PARTS.has('B') ? await benchStart(ctx, worker, workerProbe) : null;
    const cResult = PARTS.has('C') ? await benchSteps(ctx, worker, workerProbe, workerBase) : null;
    const d = PARTS.has('D') && D_RUNS > 0 ? await benchThroughput(ctx) : null;

    report(a, b, cResult, d);
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
    if (pgOpen) await pg.end().catch(() => undefined);
    await dropDatabase(dbName).catch(() => undefined);
    await deleteRedisKeys(prefix).catch(() => undefined);
  }
  if (PROBE_API) {
    process.stdout.write(`\nProbe dumps${CPU_PROFILE ? ' and CPU profiles' : ''} kept in ${dir}\n`);
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------------
// Helpers over the bench's own database and processes

/** `n` new sessions like `template` (same project, owner, agent), straight in the database. */
async function cloneSessions(ctx: Ctx, agentId: string, n: number): Promise<string[]> {
  const template = (
    await http<{ id: string }>(
      'POST',
      `${ctx.base}/v1/my/projects/${ctx.project}/sessions`,
      { agent: agentId },
      ctx.token,
    )
  ).body.id;
  const { rows } = await ctx.pg.query<{ id: string }>(
    `insert into chat_sessions
     select (jsonb_populate_record(null::chat_sessions,
               to_jsonb(s) || jsonb_build_object('id', gen_random_uuid(), 'last_seq', 0))).*
       from chat_sessions s, generate_series(1, $2) where s.id = $1
     returning id`,
    [template, n],
  );
  return rows.map((r) => r.id);
}

const messagesUrl = (ctx: Ctx, session: string) =>
  `${ctx.base}/v1/my/projects/${ctx.project}/sessions/${session}/messages`;

async function postMessage(ctx: Ctx, session: string, content: string) {
  const res = await http<{ run: { id: string } }>(
    'POST',
    messagesUrl(ctx, session),
    { content },
    ctx.token,
  );
  if (res.status !== 202)
    throw new Error(`POST answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.run.id;
}

/** Asks a process running bench/probe.js for what it collected since the last dump. */
/** Starts the V8 profiler in a process running bench/probe.js. */
function cpuStart(proc: ChildProcess, probeFile: string): void {
  writeFileSync(`${probeFile}.cmd`, 'cpu-start');
  proc.kill('SIGUSR2');
}

/** Stops it, writes the profile to `out` and prints its summary per unit of work. */
async function cpuStop(
  proc: ChildProcess,
  probeFile: string,
  out: string,
  title: string,
  units: { count: number; name: string },
): Promise<void> {
  writeFileSync(`${probeFile}.cmd`, `cpu-stop ${out}`);
  proc.kill('SIGUSR2');
  await waitUntil('the CPU profile', () => Promise.resolve(existsSync(`${out}.done`)), 30_000);
  if (existsSync(out)) printProfileSummary(`${title} (${out})`, summariseCpuProfile(out), units);
}

async function dumpProbe(proc: ChildProcess, file: string): Promise<Probe> {
  if (existsSync(file)) unlinkSync(file);
  proc.kill('SIGUSR2');
  await waitUntil('the probe dump', () => Promise.resolve(existsSync(file)), 10_000);
  return JSON.parse(readFileSync(file, 'utf8')) as Probe;
}

async function runsFinished(ctx: Ctx, ids: string[]): Promise<boolean> {
  const { rows } = await ctx.pg.query<{ n: number }>(
    `select count(*)::int as n from runs where id = any($1) and finished_at is not null`,
    [ids],
  );
  return rows[0].n === ids.length;
}

/** A's runs are not executed (B measures idle sessions): they and their jobs are dropped. */
async function clearBacklog(ctx: Ctx): Promise<void> {
  await ctx.pg.query(
    `update runs set status = 'cancelled', finished_at = now() where status in ('queued', 'running')`,
  );
  await ctx.pg.query('delete from run_outbox');
  const queue = new Queue('agent-runs', {
    connection: redisOptions(REDIS_URL),
    prefix: `${ctx.prefix}bull`,
  });
  await queue.drain(true);
  await queue.close();
}

async function startBareServer(ctx: Ctx): Promise<{ base: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(__dirname, 'bare-accept-server.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      DATABASE_URL: ctx.dbUrl,
      REDIS_URL,
      BULL_PREFIX: `${ctx.prefix}bare`,
      OWNER_ID: ctx.ownerId,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { base: `http://127.0.0.1:${port}`, child };
}

// ------------------------------------------------------------------------------------------------
// A. POST -> 202

interface AcceptRow {
  latency: Stats;
  /** CPU of the serving process per request (the load process itself for the in-process row). */
  cpuPerRequest: number;
  /** CPU of the PostgreSQL backends of the bench database per request. */
  pgCpuPerRequest: number;
  /** Share of the machine's CPU (all cores) in use while the row was measured. */
  machineBusy: number;
}

interface AcceptResult {
  rate: number;
  product: AcceptRow;
  bareHttp: AcceptRow;
  bareInProcess: AcceptRow;
}

async function benchAccept(ctx: Ctx, rate: number, trace: boolean): Promise<AcceptResult> {
  const agent = ctx.agents[0].id;
  const perTarget = A_WARMUP + A_POSTS;
  const [productSessions, bareSessions, inProcSessions] = [
    await cloneSessions(ctx, agent, perTarget + (PROBE_API && trace ? 100 : 0)),
    await cloneSessions(ctx, agent, perTarget),
    await cloneSessions(ctx, agent, perTarget),
  ];
  const bare = await startBareServer(ctx);
  const inProc = await createBareAccept({
    databaseUrl: ctx.dbUrl,
    redisUrl: REDIS_URL,
    prefix: `${ctx.prefix}bare-inproc`,
  });
  const post = async (base: string, session: string, i: number, auth?: string) => {
    const res = await fetch(`${base}/v1/my/projects/${ctx.project}/sessions/${session}/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(auth ? { authorization: `Bearer ${auth}` } : {}),
      },
      body: JSON.stringify({ content: `bench message ${i}` }),
    });
    const text = await res.text();
    if (res.status !== 202)
      throw new Error(`POST to ${base} answered ${res.status}: ${text.slice(0, 300)}`);
  };
  const targets = [
    {
      name: 'product',
      pid: ctx.api.pid,
      sessions: productSessions,
      call: (s: string, i: number) => post(ctx.base, s, i, ctx.token),
    },
    {
      name: 'bareHttp',
      pid: bare.child.pid,
      sessions: bareSessions,
      call: (s: string, i: number) => post(bare.base, s, i),
    },
    {
      name: 'bareInProcess',
      pid: process.pid,
      sessions: inProcSessions,
      call: async (s: string, i: number) => {
        const res = await inProc.accept({
          projectId: ctx.project,
          ownerId: ctx.ownerId,
          sessionId: s,
          content: `bench message ${i}`,
        });
        JSON.stringify(res.body);
        if (res.status !== 202) throw new Error(`bare accept answered ${res.status}`);
      },
    },
  ];
  const used = new Map(targets.map((t) => [t.name, 0]));
  const take = (name: string) => {
    const i = used.get(name) ?? 0;
    used.set(name, i + 1);
    return i;
  };
  const latencies = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  const dbName = new URL(ctx.dbUrl).pathname.slice(1);
  const cpu = new Map<string, { process: number; pg: number; busy: number; total: number }>(
    targets.map((t) => [t.name, { process: 0, pg: 0, busy: 0, total: 0 }]),
  );
  const productSql: Probe = { sql: [], calls: [] };
  try {
    for (const t of targets)
      await atFixedRate(A_WARMUP, rate, (i) => t.call(t.sessions[take(t.name)], i));
    const perRound = Math.ceil(A_POSTS / A_ROUNDS);
    for (let r = 0; r < A_ROUNDS; r++) {
      for (const t of targets) {
        const count = Math.min(perRound, A_POSTS - r * perRound);
        const profiling = CPU_PROFILE && trace && r === 0 && t.name === 'product';
        if (PROBE_API && t.name === 'product') await dumpProbe(ctx.api, ctx.apiProbe);
        if (profiling) cpuStart(ctx.api, ctx.apiProbe);
        const cpu0 = cpuMs(t.pid);
        const pg0 = pgCpu(dbName);
        const m0 = machineCpu();
        const l = await atFixedRate(count, rate, (i) => t.call(t.sessions[take(t.name)], i));
        const m1 = machineCpu();
        const acc = cpu.get(t.name);
        if (acc) {
          acc.process += cpuMs(t.pid) - cpu0;
          acc.pg += pgCpuDelta(pg0, pgCpu(dbName));
          acc.busy += m1.busy - m0.busy;
          acc.total += m1.total - m0.total;
        }
        latencies.get(t.name)?.push(...l);
        if (profiling)
          await cpuStop(
            ctx.api,
            ctx.apiProbe,
            join(ctx.dir, `api-A-${rate}.cpuprofile`),
            `A. CPU profile of the API over ${count} POSTs at ${rate}/s`,
            { count, name: 'request' },
          );
        if (PROBE_API && t.name === 'product')
          productSql.sql.push(...(await dumpProbe(ctx.api, ctx.apiProbe)).sql);
        await sleep(500);
      }
    }
    if (PROBE_API && trace) {
      reportSql(
        'A. product traffic under load (API process, probe)',
        productSql,
        A_POSTS,
        'request',
      );
      await serialTrace(ctx, productSessions.slice(used.get('product')));
    }
  } finally {
    const exited = once(bare.child, 'exit');
    bare.child.kill('SIGTERM');
    await inProc.close();
    await Promise.race([exited, sleep(10_000)]);
  }
  const row = (name: string): AcceptRow => {
    const c = cpu.get(name) ?? { process: NaN, pg: NaN, busy: NaN, total: NaN };
    const l = latencies.get(name) ?? [];
    return {
      latency: stats(l),
      cpuPerRequest: c.process / l.length,
      pgCpuPerRequest: c.pg / l.length,
      machineBusy: c.busy / c.total,
    };
  };
  return {
    rate,
    product: row('product'),
    bareHttp: row('bareHttp'),
    bareInProcess: row('bareInProcess'),
  };
}

const shape = (sql: string) =>
  sql
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/\$\d+/g, '?')
    .replace(/\b\d+\b/g, '?')
    .replace(/\((?:\?, )+\?\)/g, '(?…)')
    .slice(0, 110);

/** What a process sent to PostgreSQL and Redis over a phase: per statement shape, per unit. */
function reportSql(title: string, probe: Probe, units: number, unit: string): void {
  const by = new Map<string, number[]>();
  for (const s of probe.sql) {
    const k = shape(s.sql);
    const list = by.get(k) ?? [];
    list.push(s.ms);
    by.set(k, list);
  }
  const rows = [...by.entries()]
    .map(([k, ms]) => ({ k, n: ms.length, total: ms.reduce((a, b) => a + b, 0), s: stats(ms) }))
    .sort((a, b) => b.total - a.total);
  const of = (kind: string) => probe.sql.filter((x) => x.kind === kind);
  const sum = (xs: { ms: number }[]) => xs.reduce((a, x) => a + x.ms, 0);
  process.stdout.write(
    `\n${title}: ${units} ${unit}s; per ${unit}: ${(of('pg').length / units).toFixed(1)} SQL statements (${f2(sum(of('pg')) / units)} in pg calls), ` +
      `${(of('redis').length / units).toFixed(1)} Redis commands (${f2(sum(of('redis')) / units)}), ${f2(sum(of('checkout')) / units)} waiting for pool connections\n`,
  );
  printTable(
    ['statement', `per ${unit}`, 'mean', 'p50', 'p99', `ms per ${unit}`],
    rows
      .slice(0, 30)
      .map((r) => [
        r.k,
        (r.n / units).toFixed(2),
        f2(r.s.mean),
        f2(r.s.p50),
        f2(r.s.p99),
        (r.total / units).toFixed(3),
      ]),
  );
}

interface TraceGroup {
  from: number;
  to: number;
  entries: ProbedStatement[];
}

/**
 * One unit of work (a request, a run's start, a step) as the process's SQL statements and Redis
 * commands in the order sent: the time before each (JS in the process: HTTP, framework, guards,
 * ORM) and in it (the round trip). Medians over the groups showing the most common sequence (a
 * background poll landing in a group would shift its positions).
 */
function printSequence(title: string, groups: TraceGroup[], endLabel: string): void {
  const signature = (xs: { sql: string }[]) => xs.map((x) => shape(x.sql)).join('|');
  const counts = new Map<string, number>();
  for (const g of groups)
    counts.set(signature(g.entries), (counts.get(signature(g.entries)) ?? 0) + 1);
  const modal = [...counts.entries()].sort((x, y) => y[1] - x[1])[0]?.[0];
  const kept = groups.filter((g) => signature(g.entries) === modal);
  if (!kept.length) return;
  const len = kept[0].entries.length;
  const before: number[][] = Array.from({ length: len + 1 }, () => []);
  const inCall: number[][] = Array.from({ length: len }, () => []);
  for (const g of kept) {
    let t = g.from;
    g.entries.forEach((s, i) => {
      before[i].push(s.at - t);
      inCall[i].push(s.ms);
      t = Math.max(t, s.at + s.ms);
    });
    before[len].push(g.to - t);
  }
  const med = (xs: number[]) => percentile(xs, 50);
  const rows = kept[0].entries.map((s, i) => [
    String(i + 1),
    med(before[i]) < 0 ? '(concurrent)' : f2(med(before[i])),
    f2(med(inCall[i])),
    shape(s.sql),
  ]);
  rows.push(['', f2(med(before[len])), '', endLabel]);
  const sumKind = (kind: string) =>
    kept[0].entries.reduce((a, s, i) => a + (s.kind === kind ? med(inCall[i]) : 0), 0);
  const outside = before.reduce((a, b) => a + Math.max(0, med(b)), 0);
  process.stdout.write(
    `\n${title} (${kept.length} of ${groups.length} with the most common sequence), medians: total ${f2(med(kept.map((g) => g.to - g.from)))}, ` +
      `JS between round trips ${f2(outside)}, pg ${f2(sumKind('pg'))} (${kept[0].entries.filter((e) => e.kind === 'pg').length} statements), ` +
      `Redis ${f2(sumKind('redis'))} (${kept[0].entries.filter((e) => e.kind === 'redis').length} commands)\n`,
  );
  printTable(['#', 'before it (JS)', 'round trip', 'statement / command'], rows);
}

/** Single POSTs, 30 ms apart, each traced from the client's send to the client's receipt. */
async function serialTrace(ctx: Ctx, sessions: string[]): Promise<void> {
  const n = Math.min(100, sessions.length);
  if (n === 0) return;
  await dumpProbe(ctx.api, ctx.apiProbe);
  const windows: { from: number; to: number }[] = [];
  for (let i = 0; i < n; i++) {
    const from = performance.timeOrigin + performance.now();
    await postMessage(ctx, sessions[i], `trace ${i}`);
    windows.push({ from, to: performance.timeOrigin + performance.now() });
    await sleep(30);
  }
  const probe = await dumpProbe(ctx.api, ctx.apiProbe);
  printSequence(
    'A. one POST alone, client send -> response (API process)',
    windows.map((w) => ({
      ...w,
      entries: probe.sql.filter((s) => s.at >= w.from && s.at <= w.to).sort((x, y) => x.at - y.at),
    })),
    '(response reaches the client)',
  );
}

// ------------------------------------------------------------------------------------------------
// B. enqueue -> start

interface StartResult {
  /** Share of the machine's CPU in use while the product's runs were measured. */
  machineBusy: number;
  product: Stats;
  pickup: Stats;
  engine: Stats;
  accepted: Stats;
  bare: Stats;
}

async function benchStart(ctx: Ctx, worker: ChildProcess, probeFile: string): Promise<StartResult> {
  const sessions = await cloneSessions(ctx, ctx.agents[0].id, B_RUNS + 20);
  // Warm-up: the worker's first runs pay for JIT and connections.
  const warm = await Promise.all(
    sessions.slice(B_RUNS).map((s, i) => postMessage(ctx, s, `warm ${i}`)),
  );
  await waitUntil('B warm-up runs', () => runsFinished(ctx, warm), 60_000);

  const ids: string[] = [];
  const m0 = machineCpu();
  await atFixedRate(B_RUNS, B_RATE, async (i) => {
    ids.push(await postMessage(ctx, sessions[i], `latency ${i}`));
  });
  await waitUntil('B runs to finish', () => runsFinished(ctx, ids), 120_000);
  const m1 = machineCpu();
  const { rows } = await ctx.pg.query<{ id: string; started: number; created: number }>(
    `select id, extract(epoch from started_at) * 1000 as started, extract(epoch from created_at) * 1000 as created
       from runs where id = any($1) and started_at is not null`,
    [ids],
  );
  const queue = new Queue('agent-runs', {
    connection: redisOptions(REDIS_URL),
    prefix: `${ctx.prefix}bull`,
  });
  const total: number[] = [];
  const pickup: number[] = [];
  const engine: number[] = [];
  const accepted: number[] = [];
  for (const r of rows) {
    const job = await queue.getJob(`${r.id}.1`);
    const started = Number(r.started);
    accepted.push(started - Number(r.created));
    if (!job?.processedOn) continue;
    total.push(started - job.timestamp);
    pickup.push(job.processedOn - job.timestamp);
    engine.push(started - job.processedOn);
  }
  if (PROBE_API) await traceStarts(ctx, queue, worker, probeFile);
  await queue.close();
  return {
    machineBusy: (m1.busy - m0.busy) / (m1.total - m0.total),
    product: stats(total),
    pickup: stats(pickup),
    engine: stats(engine),
    accepted: stats(accepted),
    bare: stats(await bareQueueLatency(ctx.prefix)),
  };
}

/** Runs one at a time: the worker's traffic from BullMQ's pickup to the claim that starts the run. */
async function traceStarts(
  ctx: Ctx,
  queue: Queue,
  worker: ChildProcess,
  probeFile: string,
): Promise<void> {
  const sessions = await cloneSessions(ctx, ctx.agents[0].id, 50);
  await dumpProbe(worker, probeFile);
  const ids: string[] = [];
  for (const s of sessions) {
    const id = await postMessage(ctx, s, 'trace');
    await waitUntil('a traced run', () => runsFinished(ctx, [id]), 60_000);
    ids.push(id);
    await sleep(30);
  }
  const probe = await dumpProbe(worker, probeFile);
  const sorted = [...probe.sql].sort((x, y) => x.at - y.at);
  const groups: TraceGroup[] = [];
  for (const id of ids) {
    const job = await queue.getJob(`${id}.1`);
    if (!job?.processedOn) continue;
    const from = job.processedOn - 1;
    const entries: ProbedStatement[] = [];
    for (const e of sorted) {
      if (e.at < from) continue;
      entries.push(e);
      if (/^update runs set status = 'running'/.test(e.sql)) break;
    }
    const last = entries.at(-1);
    if (last) groups.push({ from: job.processedOn, to: last.at + last.ms, entries });
  }
  printSequence(
    "B. one run's start alone, BullMQ processedOn -> claim (worker process)",
    groups,
    '(claimed: started_at written)',
  );
}

/** add -> processor start with a no-op worker configured as the product's, same Redis. */
async function bareQueueLatency(prefix: string): Promise<number[]> {
  const waits: number[] = [];
  let measuring = false;
  const connection = redisOptions(REDIS_URL);
  const worker = new Worker(
    'agent-runs',
    async (job) => {
      const at = performance.timeOrigin + performance.now();
      if (measuring) waits.push(at - job.timestamp);
      return Promise.resolve();
    },
    {
      connection: { ...connection, enableOfflineQueue: true, maxRetriesPerRequest: null },
      prefix: `${prefix}bare-b`,
      concurrency: WORKER_CONCURRENCY,
      lockDuration: RUN_JOB_LOCK_MS,
      stalledInterval: Math.max(500, Math.floor(RUN_JOB_LOCK_MS / 2)),
      maxStalledCount: 10,
    },
  );
  const queue = new Queue('agent-runs', {
    connection: { ...connection, enableOfflineQueue: false, maxRetriesPerRequest: 1 },
    prefix: `${prefix}bare-b`,
    defaultJobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 3_600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3_600 },
    },
  });
  await Promise.all([worker.waitUntilReady(), queue.waitUntilReady()]);
  let n = 0;
  await atFixedRate(20, B_RATE, async () => {
    await queue.add('run', { runId: `warm-${n}`, dispatch: 1 }, { jobId: `warm-${n++}.1` });
  });
  await sleep(500);
  measuring = true;
  await atFixedRate(B_RUNS, B_RATE, async (i) => {
    await queue.add('run', { runId: `run-${i}`, dispatch: 1 }, { jobId: `run-${i}.1` });
  });
  await waitUntil('bare jobs', () => Promise.resolve(waits.length >= B_RUNS), 60_000);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return waits;
}

// ------------------------------------------------------------------------------------------------
// C. platform time per tool-loop step

interface StepsResult {
  machineBusy: number;
  steps: number;
  runs: number;
  platform: Stats;
  platformLlm: Stats;
  platformTool: Stats;
  gap: Stats;
  gapAfterLlm: Stats;
  gapAfterTool: Stats;
  durationLlm: Stats;
  durationTool: Stats;
  modelCall: Stats;
  toolCall: Stats;
  setup: Stats;
  teardown: Stats;
  metricsModelMean: number;
  metricsStepMean: Record<string, number>;
  sqlPerStep: number;
  sqlMsPerStep: number;
  redisPerStep: number;
  redisMsPerStep: number;
}

async function metricSums(workerBase: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${workerBase}/metrics`)).text();
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m =
      /^(codelab_llm_request_duration_seconds|codelab_run_step_duration_seconds)_(sum|count)\{([^}]*)\} (\S+)$/.exec(
        line,
      );
    if (!m) continue;
    const kind = /kind="([^"]+)"/.exec(m[3])?.[1] ?? 'llm';
    const key = `${m[1]}:${kind}:${m[2]}`;
    sums.set(key, (sums.get(key) ?? 0) + Number(m[4]));
  }
  return sums;
}

async function benchSteps(
  ctx: Ctx,
  worker: ChildProcess,
  probeFile: string,
  workerBase: string,
): Promise<StepsResult> {
  const agent = ctx.agents[1].id;
  const sessions = await cloneSessions(ctx, agent, C_RUNS + 2);
  const script = Array.from({ length: C_CALLS }, (_, i) => cToolCall(i)).join('\n');
  const runOne = async (session: string) => {
    const id = await postMessage(ctx, session, `tool loop\n${script}`);
    await waitUntil('a C run', () => runsFinished(ctx, [id]), 120_000);
    return id;
  };
  // Warm-up runs, not counted.
  for (const s of sessions.slice(C_RUNS)) await runOne(s);
  await dumpProbe(worker, probeFile);
  const before = await metricSums(workerBase);
  if (CPU_PROFILE) cpuStart(worker, probeFile);
  const m0 = machineCpu();
  const ids: string[] = [];
  for (const s of sessions.slice(0, C_RUNS)) ids.push(await runOne(s));
  const m1 = machineCpu();
  const after = await metricSums(workerBase);
  if (CPU_PROFILE)
    await cpuStop(
      worker,
      probeFile,
      join(ctx.dir, 'worker-C.cpuprofile'),
      `C. CPU profile of the worker over ${C_RUNS} tool-loop runs`,
      { count: C_RUNS * (2 * C_CALLS + 1), name: 'step' },
    );
  const probe = await dumpProbe(worker, probeFile);

  const status = await ctx.pg.query<{ status: string; n: number }>(
    `select status, count(*)::int as n from runs where id = any($1) group by status`,
    [ids],
  );
  if (status.rows.some((r) => r.status !== 'completed'))
    throw new Error(`C runs did not all complete: ${JSON.stringify(status.rows)}`);
  const { rows } = await ctx.pg.query<{
    run_id: string;
    seq: number;
    kind: string;
    s: number;
    f: number;
    run_started: number;
    run_finished: number;
  }>(
    `select st.run_id, st.seq, st.kind, extract(epoch from st.started_at) * 1000 as s,
            extract(epoch from st.finished_at) * 1000 as f,
            extract(epoch from r.started_at) * 1000 as run_started,
            extract(epoch from r.finished_at) * 1000 as run_finished
       from run_steps st join runs r on r.id = st.run_id
      where st.run_id = any($1) order by r.started_at, st.seq`,
    [ids],
  );
  const steps = rows.map((r) => ({
    ...r,
    s: Number(r.s),
    f: Number(r.f),
    run_started: Number(r.run_started),
    run_finished: Number(r.run_finished),
  }));

  // Model calls in order of the llm steps (runs are one at a time); tool calls by run and step.
  const llmCalls = probe.calls.filter((c) => c.kind === 'llm').sort((x, y) => x.at - y.at);
  const toolCalls = new Map<string, ProbedCall>(
    probe.calls.filter((c) => c.kind === 'tool').map((c) => [`${c.runId}:${c.seq}`, c]),
  );
  const llmSteps = steps.filter((s) => s.kind === 'llm');
  if (llmCalls.length !== llmSteps.length)
    throw new Error(`C: ${llmCalls.length} model calls for ${llmSteps.length} llm steps`);
  const inner = new Map<(typeof steps)[number], number>();
  llmSteps.forEach((s, i) => inner.set(s, llmCalls[i].ms));
  for (const s of steps) {
    if (s.kind !== 'tool') continue;
    const call = toolCalls.get(`${s.run_id}:${s.seq}`);
    if (!call) throw new Error(`C: no tool call recorded for step ${s.run_id}:${s.seq}`);
    inner.set(s, call.ms);
  }

  const platform: number[] = [];
  const platformBy: Record<string, number[]> = { llm: [], tool: [] };
  const gap: number[] = [];
  const gapBy: Record<string, number[]> = { llm: [], tool: [] };
  const durationBy: Record<string, number[]> = { llm: [], tool: [] };
  const setup: number[] = [];
  const teardown: number[] = [];
  steps.forEach((s, i) => {
    const next = steps[i + 1]?.run_id === s.run_id ? steps[i + 1] : undefined;
    if (s.seq === 1) setup.push(s.s - s.run_started);
    durationBy[s.kind].push(s.f - s.s);
    const cycleEnd = next ? next.s : s.run_finished;
    const p = cycleEnd - s.s - (inner.get(s) ?? 0);
    platform.push(p);
    platformBy[s.kind].push(p);
    if (next) {
      gap.push(next.s - s.f);
      gapBy[s.kind].push(next.s - s.f);
    } else teardown.push(s.run_finished - s.f);
  });

  const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  const mean = (metric: string, kind: string) =>
    (1000 * delta(`${metric}:${kind}:sum`)) / (delta(`${metric}:${kind}:count`) || NaN);
  const sqlStatements = probe.sql.filter((s) => s.kind === 'pg');
  const redisCommands = probe.sql.filter((s) => s.kind === 'redis');
  if (PROBE_API) {
    reportSql('C. worker traffic during the tool loops (probe)', probe, steps.length, 'step');
    traceSteps(probe);
  }
  return {
    machineBusy: (m1.busy - m0.busy) / (m1.total - m0.total),
    steps: steps.length,
    runs: ids.length,
    platform: stats(platform),
    platformLlm: stats(platformBy.llm),
    platformTool: stats(platformBy.tool),
    gap: stats(gap),
    gapAfterLlm: stats(gapBy.llm),
    gapAfterTool: stats(gapBy.tool),
    durationLlm: stats(durationBy.llm),
    durationTool: stats(durationBy.tool),
    modelCall: stats(llmCalls.map((c) => c.ms)),
    toolCall: stats([...toolCalls.values()].map((c) => c.ms)),
    setup: stats(setup),
    teardown: stats(teardown),
    metricsModelMean: mean('codelab_llm_request_duration_seconds', 'llm'),
    metricsStepMean: {
      llm: mean('codelab_run_step_duration_seconds', 'llm'),
      tool: mean('codelab_run_step_duration_seconds', 'tool'),
    },
    sqlPerStep: sqlStatements.length / steps.length,
    sqlMsPerStep: sqlStatements.reduce((a, s) => a + s.ms, 0) / steps.length,
    redisPerStep: redisCommands.length / steps.length,
    redisMsPerStep: redisCommands.reduce((a, s) => a + s.ms, 0) / steps.length,
  };
}

/**
 * Step cycles from the worker's traffic: a cycle starts with the `begin` of the journal write that
 * starts a step (its `insert into run_steps`) and ends where the next step's starts; cycles that
 * end their run are left out. One table for llm steps, one for tool steps.
 */
function traceSteps(probe: Probe): void {
  const sorted = [...probe.sql].sort((x, y) => x.at - y.at);
  const starts: { index: number; run: string; kind: string }[] = [];
  sorted.forEach((e, i) => {
    const m = /^insert into run_steps .*? values \('([^']+)', \d+, '(\w+)'/.exec(e.sql);
    if (!m) return;
    let b = i;
    while (b > 0 && sorted[b].sql !== 'begin') b--;
    // The pool checkout before the begin belongs to the cycle too.
    if (b > 0 && sorted[b - 1].kind === 'checkout') b--;
    starts.push({ index: b, run: m[1], kind: m[2] });
  });
  for (const kind of ['llm', 'tool']) {
    const groups: TraceGroup[] = [];
    starts.forEach((st, i) => {
      const next = starts[i + 1];
      if (st.kind !== kind || !next || next.run !== st.run) return;
      const entries = sorted.slice(st.index, next.index);
      groups.push({ from: entries[0].at, to: sorted[next.index].at, entries });
    });
    printSequence(
      `C. one ${kind} step's cycle, journal start -> next step's journal start (worker process)`,
      groups,
      "(next step's journal start)",
    );
  }
}

// ------------------------------------------------------------------------------------------------
// D. throughput

async function benchThroughput(ctx: Ctx): Promise<{ runs: number; seconds: number }> {
  const sessions: string[] = [];
  for (const a of ctx.agents) sessions.push(...(await cloneSessions(ctx, a.id, 20)));
  const start = performance.now();
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < D_RUNS) {
        const i = next++;
        ids.push(await postMessage(ctx, sessions[i % sessions.length], `throughput ${i}`));
      }
    }),
  );
  await waitUntil('D runs to finish', () => runsFinished(ctx, ids), 300_000);
  const seconds = (performance.now() - start) / 1000;
  const { rows } = await ctx.pg.query<{ n: number }>(
    `select count(*)::int as n from runs where id = any($1) and status = 'completed'`,
    [ids],
  );
  return { runs: rows[0].n, seconds };
}

// ------------------------------------------------------------------------------------------------

function report(
  a: AcceptResult[],
  b: StartResult | null,
  c: StepsResult | null,
  d: { runs: number; seconds: number } | null,
): void {
  const head = ['', 'n', 'p50', 'p95', 'p99', 'max'];
  for (const r of a) {
    process.stdout.write(
      `\nA. POST message -> 202 at ${r.rate}/s (${A_POSTS} measured per row, ${A_ROUNDS} alternating rounds, after ${A_WARMUP} warm-up)${PROBE_API ? ` — UNDER ${CPU_PROFILE ? 'CPU PROFILER AND ' : ''}PROBE` : ''}`,
    );
    const aCells = (row: AcceptRow) => [
      ...statCells(row.latency),
      f2(row.cpuPerRequest),
      f2(row.pgCpuPerRequest),
      `${(100 * row.machineBusy).toFixed(0)} %`,
    ];
    printTable(
      [...head, 'CPU/req', 'PG CPU/req', 'machine busy'],
      [
        ['product (API process)', ...aCells(r.product)],
        ['bare: node:http + pg + queue.add (own process)', ...aCells(r.bareHttp)],
        ['bare: same, in the load process (no HTTP)', ...aCells(r.bareInProcess)],
      ],
    );
    const [ap, ab] = [r.product.latency, r.bareHttp.latency];
    process.stdout.write(
      `goal p50 <= bare + 1 ms: ${f2(ap.p50)} vs ${f2(ab.p50 + 1)} (+${f2(ap.p50 - ab.p50)}, x${(ap.p50 / ab.p50).toFixed(2)}) ${verdict(ap.p50 <= ab.p50 + 1)}; ` +
        `goal p99 <= 10 ms: ${f2(ap.p99)} ${verdict(ap.p99 <= 10)}${r.rate === A_RATES[0] ? '' : ' (goals are set at the first rate)'}\n` +
        `(CPU/req: CPU time of the serving process per request, the in-process row's includes the load generator; PG CPU/req: the bench database's backends; 10 ms ticks)\n`,
    );
  }
  if (b) {
    process.stdout.write(
      `\nB. enqueue -> run start at ${B_RATE}/s (worker concurrency ${WORKER_CONCURRENCY}; machine ${(100 * b.machineBusy).toFixed(0)} % busy)`,
    );
    printTable(head, [
      ['product: job timestamp -> runs.started_at', ...statCells(b.product)],
      ['  of which BullMQ pickup (-> processedOn)', ...statCells(b.pickup)],
      ['  of which engine before claim (processedOn -> started_at)', ...statCells(b.engine)],
      ['bare BullMQ: job timestamp -> no-op processor', ...statCells(b.bare)],
      ['product: runs.created_at (POST tx start) -> started_at', ...statCells(b.accepted)],
    ]);
    process.stdout.write(
      `goal p99 <= 1.5 x bare: ${f2(b.product.p99)} vs ${f2(1.5 * b.bare.p99)} (x${(b.product.p99 / b.bare.p99).toFixed(2)}) ${verdict(b.product.p99 <= 1.5 * b.bare.p99)}\n`,
    );
  }
  if (c) {
    process.stdout.write(
      `\nC. tool loop: ${c.runs} runs x (${C_CALLS} ${C_TOOL === 'read_file' ? 'read_file calls of a 100 KiB file' : 'test_read calls, delay 0'}) = ${c.steps} steps, offline model at 0 ms/token, one run at a time (machine ${(100 * c.machineBusy).toFixed(0)} % busy)`,
    );
    printTable(head, [
      ['platform per step (cycle - model/tool call)', ...statCells(c.platform)],
      ['  llm steps', ...statCells(c.platformLlm)],
      ['  tool steps', ...statCells(c.platformTool)],
      ['gap between steps (finished_at -> next started_at)', ...statCells(c.gap)],
      ['  after an llm step', ...statCells(c.gapAfterLlm)],
      ['  after a tool step', ...statCells(c.gapAfterTool)],
      ['journal duration_ms, llm steps', ...statCells(c.durationLlm)],
      ['journal duration_ms, tool steps', ...statCells(c.durationTool)],
      ['model call (ModelCaller.call)', ...statCells(c.modelCall)],
      [`tool call (${C_TOOL} execute)`, ...statCells(c.toolCall)],
      ['run setup: started_at -> first step', ...statCells(c.setup)],
      ['run end: last step finished_at -> run finished_at', ...statCells(c.teardown)],
    ]);
    process.stdout.write(
      `cross-check from the worker's /metrics: model call mean ${f2(c.metricsModelMean)}; codelab_run_step_duration_seconds mean llm ${f2(c.metricsStepMean.llm)}, tool ${f2(c.metricsStepMean.tool)}\n` +
        `per step (worker, all its traffic while the loops ran): ${c.sqlPerStep.toFixed(1)} SQL statements, ${f2(c.sqlMsPerStep)} in pg calls; ${c.redisPerStep.toFixed(1)} Redis commands, ${f2(c.redisMsPerStep)}\n` +
        `goal platform p50 <= 5 ms: ${f2(c.platform.p50)} ${verdict(c.platform.p50 <= 5)}\n`,
    );
  }
  if (d)
    process.stdout.write(
      `\nD. direct calls end to end: ${d.runs} runs in ${d.seconds.toFixed(1)} s = ${(d.runs / d.seconds).toFixed(1)} runs/s\n`,
    );
}

void main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
