/**
 * `npm run bench:orchestration` — how well orchestrated mode runs a plan in parallel. The product
 * runs as real processes (API and one worker, APP_ROLE api|worker from dist/apps/api/src/main.js,
 * WORKER_CONCURRENCY 16, the starter agents' limits at 32, memory off) on a database and Redis key
 * prefix of its own; the offline model streams each token after OFFLINE_LLM_TOKEN_DELAY_MS
 * (BENCH_ORCH_TOKEN_MS, default 25), so a task answering `/reply` with BENCH_ORCH_WORDS words
 * (default 20) takes T ≈ 20 × 25 ms = 0.5 s of model time.
 *
 * Each round (BENCH_ORCH_ROUNDS, default 5, after one warm-up round) sends, to a fresh orchestrated
 * session, waiting for each to finish:
 * - a one-task plan (two tasks would be a plan; one alone is routed, so: one task plus a trivial
 *   one, measured on the first): T, a task's own time, from its child run's started_at to
 *   finished_at (PostgreSQL's clock);
 * - 8 independent tasks: wall = first task start -> last task finish, beside 8 × T (sequential).
 *   Goal: wall <= 1.25 T + 0.5 s (>= 6x faster than sequential);
 * - a 3-level diamond a -> (b, c) -> d: its wall (a's start -> d's finish) beside its critical
 *   path (a + max(b, c) + d) and the sum of its task times.
 * Start latency: for every task with dependencies, its child's start (the worker's claim) minus
 * its last dependency's finish. Goal p99 <= 200 ms. Knobs: BENCH_ORCH_ROUNDS, BENCH_ORCH_TOKEN_MS,
 * BENCH_ORCH_WORDS; BENCH_POSTGRES_URL, BENCH_REDIS_URL (bench/support.ts).
 */
import 'reflect-metadata';
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { Client } from 'pg';
import {
  benchSetup,
  createBenchProject,
  deleteRedisKeys,
  dropDatabase,
  freePort,
  http,
  percentile,
  printTable,
  startProcess,
  waitUntil,
} from './support';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const ROUNDS = Math.max(1, num('BENCH_ORCH_ROUNDS', 5));
const TOKEN_MS = num('BENCH_ORCH_TOKEN_MS', 25);
const WORDS = num('BENCH_ORCH_WORDS', 20);

interface Task {
  id: string;
  agent: string;
  instruction: string;
  depends_on: string[];
}

const words = (tag: string) =>
  Array.from({ length: WORDS }, (_, i) => (i === 0 ? tag : `w${i}`)).join(' ');
const task = (id: string, agent: string, deps: string[] = []): Task => ({
  id,
  agent,
  instruction: `${id}\n/reply ${words(id)}`,
  depends_on: deps,
});

interface TaskTimes {
  task_id: string;
  depends_on: string[];
  started: number;
  finished: number;
}

async function runPlan(
  base: string,
  token: string,
  project: string,
  pg: Client,
  tasks: Task[],
): Promise<TaskTimes[]> {
  const url = `${base}/v1/my/projects/${project}/sessions`;
  const session = await http<{ id: string }>('POST', url, { mode: 'orchestrated' }, token);
  const sent = await http<{ run: { id: string } }>(
    'POST',
    `${url}/${session.body.id}/messages`,
    { content: `go\n/plan ${JSON.stringify({ decision: 'plan', tasks })}` },
    token,
  );
  if (sent.status !== 202) throw new Error(`POST answered ${sent.status}`);
  const runId = sent.body.run.id;
  await waitUntil(
    'the plan to finish',
    async () => {
      const { rows } = await pg.query<{ status: string }>('select status from runs where id = $1', [
        runId,
      ]);
      if (['failed', 'cancelled'].includes(rows[0]?.status))
        throw new Error(`the orchestration ended ${rows[0].status}`);
      return rows[0]?.status === 'completed';
    },
    120_000,
  );
  const { rows } = await pg.query<{
    task_id: string;
    depends_on: string[];
    started: string;
    finished: string;
  }>(
    `select t.task_id, t.depends_on,
        extract(epoch from r.started_at) * 1000 as started,
        extract(epoch from r.finished_at) * 1000 as finished
       from plan_tasks t join plans p on p.id = t.plan_id join runs r on r.id = t.child_run_id
      where p.run_id = $1 order by t.position`,
    [runId],
  );
  return rows.map((r) => ({ ...r, started: Number(r.started), finished: Number(r.finished) }));
}

const wallOf = (times: TaskTimes[]) =>
  Math.max(...times.map((t) => t.finished)) - Math.min(...times.map((t) => t.started));
const durationOf = (t: TaskTimes) => t.finished - t.started;

function startLatencies(times: TaskTimes[]): number[] {
  const byId = new Map(times.map((t) => [t.task_id, t]));
  return times
    .filter((t) => t.depends_on.length)
    .map((t) => t.started - Math.max(...t.depends_on.map((d) => byId.get(d)!.finished)));
}

const stats = (label: string, values: number[], unit = 'ms') => [
  label,
  String(values.length),
  `${percentile(values, 50).toFixed(0)} ${unit}`,
  `${percentile(values, 99).toFixed(0)} ${unit}`,
];

async function main(): Promise<void> {
  const setup = await benchSetup('orchestration');
  const { tag, dbName, prefix, dir, port, base, dbUrl } = setup;
  const env = { ...setup.env, OFFLINE_LLM_TOKEN_DELAY_MS: String(TOKEN_MS) };
  const api = startProcess({ ...env, APP_ROLE: 'api', PORT: String(port) });
  let worker: ChildProcess | undefined;
  const pg = new Client({ connectionString: dbUrl });
  let pgOpen = false;
  try {
    await waitUntil('the API', async () => (await fetch(`${base}/ready`)).status === 200);
    const workerPort = await freePort();
    worker = startProcess({
      ...env,
      APP_ROLE: 'worker',
      WORKER_PORT: String(workerPort),
      WORKER_CONCURRENCY: '16',
      DB_MIGRATE_ON_START: 'false',
    });
    await waitUntil(
      'the worker',
      async () => (await fetch(`http://127.0.0.1:${workerPort}/ready`)).status === 200,
    );
    const { token, project, agents } = await createBenchProject(base, tag);
    for (const a of agents)
      await http(
        'PATCH',
        `${base}/v1/my/projects/${project}/agents/${a.id}`,
        { memory_enabled: false },
        token,
      );
    await pg.connect();
    pgOpen = true;

    const singles: number[] = [];
    const widths: { wall: number; sequential: number }[] = [];
    const diamonds: { wall: number; critical: number; sum: number }[] = [];
    const latencies: number[] = [];
    const agentOf = (i: number) => ['CodeAssistant', 'DataAnalyst', 'DocumentWriter'][i % 3];
    for (let round = 0; round <= ROUNDS; round++) {
      const single = await runPlan(base, token, project, pg, [
        task('solo', 'DataAnalyst'),
        { id: 'tiny', agent: 'DocumentWriter', instruction: '/reply ok', depends_on: ['solo'] },
      ]);
      const wide = await runPlan(
        base,
        token,
        project,
        pg,
        Array.from({ length: 8 }, (_, i) => task(`t${i + 1}`, agentOf(i))),
      );
      const diamond = await runPlan(base, token, project, pg, [
        task('a', 'CodeAssistant'),
        task('b', 'DataAnalyst', ['a']),
        task('c', 'DocumentWriter', ['a']),
        task('d', 'CodeAssistant', ['b', 'c']),
      ]);
      if (round === 0) continue; // warm-up
      singles.push(durationOf(single[0]));
      latencies.push(...startLatencies(single), ...startLatencies(diamond));
      widths.push({
        wall: wallOf(wide),
        sequential: wide.reduce((sum, t) => sum + durationOf(t), 0),
      });
      const [a, b, c, d] = diamond;
      diamonds.push({
        wall: wallOf(diamond),
        critical: durationOf(a) + Math.max(durationOf(b), durationOf(c)) + durationOf(d),
        sum: diamond.reduce((sum, t) => sum + durationOf(t), 0),
      });
    }

    const T = percentile(singles, 50);
    const wall = percentile(
      widths.map((w) => w.wall),
      50,
    );
    const goal = 1.25 * T + 500;
    process.stdout.write(
      `\nOrchestrated plans, ${ROUNDS} rounds (after 1 warm-up); API + 1 worker (concurrency 16), offline model ${TOKEN_MS} ms/token, ${WORDS}-word task answers\n`,
    );
    printTable(
      ['measure (PostgreSQL timestamps of the task runs)', 'n', 'p50', 'p99'],
      [
        stats('T: one task alone (child start -> finish)', singles),
        stats(
          '8 independent tasks: wall (first start -> last finish)',
          widths.map((w) => w.wall),
        ),
        stats(
          '8 independent tasks: sum of task times (sequential)',
          widths.map((w) => w.sequential),
        ),
        stats(
          'diamond a -> (b, c) -> d: wall',
          diamonds.map((x) => x.wall),
        ),
        stats(
          'diamond: critical path (a + max(b, c) + d)',
          diamonds.map((x) => x.critical),
        ),
        stats(
          'diamond: sum of task times',
          diamonds.map((x) => x.sum),
        ),
        stats('task start after its last dependency (goal p99 <= 200 ms)', latencies),
      ],
    );
    process.stdout.write(
      `\n8-wide plan: wall p50 ${wall.toFixed(0)} ms vs goal 1.25 T + 0.5 s = ${goal.toFixed(0)} ms (${wall <= goal ? 'met' : 'missed'}); ` +
        `${(
          percentile(
            widths.map((w) => w.sequential),
            50,
          ) / wall
        ).toFixed(1)}x faster than sequential; ` +
        `start latency p99 ${percentile(latencies, 99).toFixed(0)} ms (${percentile(latencies, 99) <= 200 ? 'met' : 'missed'})\n`,
    );
  } finally {
    if (pgOpen) await pg.end().catch(() => undefined);
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
