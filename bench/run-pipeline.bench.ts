/**
 * `npm run bench:runs` — the message -> run pipeline on this machine, each product number next to
 * a bare baseline measured in the same run:
 *   A. POST message -> 202 latency at a fixed rate  vs  the same INSERTs + queue.add in a bare script
 *   B. enqueue -> run start latency                 vs  bare BullMQ add -> no-op worker
 *   C. end-to-end direct calls per second (offline model, zero token delay)
 * The product runs as real processes (API, worker); the load comes from this process.
 */
import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Client, Pool } from 'pg';
import {
  atFixedRate,
  createBenchProject,
  databaseUrl,
  dropDatabase,
  fmt,
  freePort,
  http,
  percentile,
  printTable,
  REDIS_URL,
  startProcess,
  waitUntil,
} from './support';

const RATE = Number(process.env.BENCH_RATE ?? 50);
const POSTS = Number(process.env.BENCH_POSTS ?? 500);
const THROUGHPUT_RUNS = Number(process.env.BENCH_THROUGHPUT_RUNS ?? 400);

const redisConnection = () => {
  const u = new URL(REDIS_URL);
  return { host: u.hostname, port: Number(u.port || 6379) };
};

async function main(): Promise<void> {
  const tag = randomBytes(4).toString('hex');
  const dbName = `codelab_bench_${tag}`;
  const prefix = `codelab-bench:${tag}:`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const common = {
    DATABASE_URL: databaseUrl(dbName),
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    JWT_SECRET: randomBytes(32).toString('hex'),
    RATE_LIMIT_PER_WINDOW: '1000000',
    RATE_LIMIT_AUTH_PER_WINDOW: '1000000',
    OFFLINE_LLM_TOKEN_DELAY_MS: '0',
  };
  const api = startProcess({ ...common, APP_ROLE: 'api', PORT: String(port) });
  let worker: ReturnType<typeof startProcess> | undefined;
  const results: string[][] = [];
  try {
    await waitUntil('the API', async () => (await fetch(`${base}/ready`)).status === 200);
    const { token, project, agents } = await createBenchProject(base, tag);
    const sessions = async (n: number) =>
      Promise.all(
        Array.from(
          { length: n },
          async (_, i) =>
            (
              await http<{ id: string }>(
                'POST',
                `${base}/v1/my/projects/${project}/sessions`,
                { agent: agents[i % agents.length].id },
                token,
              )
            ).body.id,
        ),
      );

    // A. POST -> 202, no worker running (pure accept path).
    const aSessions = await sessions(20);
    const postLatencies = await atFixedRate(POSTS, RATE, async (i) => {
      const res = await http(
        'POST',
        `${base}/v1/my/projects/${project}/sessions/${aSessions[i % aSessions.length]}/messages`,
        { content: `bench message ${i}` },
        token,
      );
      if (res.status !== 202) throw new Error(`POST answered ${res.status}`);
    });

    const bare = await bareAcceptPath(common.DATABASE_URL, aSessions[0], prefix);
    results.push([
      'A. POST message -> 202',
      `${RATE}/s x ${POSTS}`,
      fmt(percentile(postLatencies, 50)),
      fmt(percentile(postLatencies, 99)),
    ]);
    results.push([
      '   bare INSERTs + queue.add',
      `${RATE}/s x ${POSTS}`,
      fmt(percentile(bare, 50)),
      fmt(percentile(bare, 99)),
    ]);

    // Drain A's runs with the worker before measuring B.
    worker = startProcess({
      ...common,
      APP_ROLE: 'worker',
      WORKER_PORT: String(await freePort()),
      WORKER_CONCURRENCY: '32',
      DB_MIGRATE_ON_START: 'false',
    });
    const pg = new Client({ connectionString: common.DATABASE_URL });
    await pg.connect();
    const pendingRuns = async () =>
      Number(
        (await pg.query(`select count(*)::int as n from runs where status in ('queued','running')`))
          .rows[0].n,
      );
    await waitUntil('the backlog to drain', async () => (await pendingRuns()) === 0, 300_000);

    // B. enqueue -> start, at a rate the worker keeps up with.
    const bSessions = await sessions(40);
    const bStart = new Date();
    await atFixedRate(200, 20, async (i) => {
      await http(
        'POST',
        `${base}/v1/my/projects/${project}/sessions/${bSessions[i % bSessions.length]}/messages`,
        { content: `latency ${i}` },
        token,
      );
    });
    await waitUntil('B runs to finish', async () => (await pendingRuns()) === 0, 120_000);
    const waits = (
      await pg.query(
        `select extract(epoch from (started_at - created_at)) * 1000 as ms from runs where created_at >= $1 and status = 'completed'`,
        [bStart],
      )
    ).rows.map((r: { ms: string }) => Number(r.ms));
    const bareWaits = await bareQueueLatency(prefix);
    results.push([
      'B. enqueue -> run start',
      `20/s x ${waits.length}`,
      fmt(percentile(waits, 50)),
      fmt(percentile(waits, 99)),
    ]);
    results.push([
      '   bare BullMQ add -> no-op worker',
      `20/s x ${bareWaits.length}`,
      fmt(percentile(bareWaits, 50)),
      fmt(percentile(bareWaits, 99)),
    ]);

    // C. throughput: a burst of direct calls, until every run completed.
    const cSessions = await sessions(80);
    const cStart = performance.now();
    const cFrom = new Date();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < THROUGHPUT_RUNS) {
          const i = next++;
          await http(
            'POST',
            `${base}/v1/my/projects/${project}/sessions/${cSessions[i % cSessions.length]}/messages`,
            { content: `throughput ${i}` },
            token,
          );
        }
      }),
    );
    await waitUntil('C runs to finish', async () => (await pendingRuns()) === 0, 300_000);
    const seconds = (performance.now() - cStart) / 1000;
    const completed = Number(
      (
        await pg.query(
          `select count(*)::int as n from runs where created_at >= $1 and status = 'completed'`,
          [cFrom],
        )
      ).rows[0].n,
    );
    results.push([
      'C. direct calls end to end',
      `${completed} runs`,
      `${(completed / seconds).toFixed(1)} runs/s`,
      `${seconds.toFixed(1)} s total`,
    ]);
    await pg.end();
  } finally {
    worker?.kill('SIGTERM');
    api.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    await dropDatabase(dbName).catch(() => undefined);
  }
  printTable(['scenario', 'load', 'p50', 'p99'], results);
}

/** The accept path without the product: one transaction of the same writes, then queue.add. */
async function bareAcceptPath(dbUrl: string, sessionId: string, prefix: string): Promise<number[]> {
  const pool = new Pool({ connectionString: dbUrl, max: 10 });
  const queue = new Queue('bare-accept', {
    connection: redisConnection(),
    prefix: `${prefix}bare`,
  });
  const { rows } = await pool.query(
    'select owner_id, project_id, current_agent_id from chat_sessions where id = $1',
    [sessionId],
  );
  const s = rows[0] as { owner_id: string; project_id: string; current_agent_id: string };
  const latencies = await atFixedRate(POSTS, RATE, async (i) => {
    const client = await pool.connect();
    const runId = randomUUID();
    const messageId = randomUUID();
    try {
      await client.query('begin');
      const seq = (
        await client.query(
          'update chat_sessions set last_seq = last_seq + 1 where id = $1 returning last_seq',
          [sessionId],
        )
      ).rows[0].last_seq;
      await client.query(
        `insert into messages (id, session_id, seq, role, content, agent_id, agent_name, run_id, metadata, created_at) values ($1,$2,$3,'user',$4,$5,'x',$6,'{}',now())`,
        [messageId, sessionId, seq, `bare ${i}`, s.current_agent_id, runId],
      );
      await client.query(
        `insert into runs (id, session_id, project_id, owner_id, agent_id, agent_name, mode, status, input_message_id, steps, executions, created_at)
         values ($1,$2,$3,$4,$5,'x','direct','cancelled',$6,'{}',0,now())`,
        [runId, sessionId, s.project_id, s.owner_id, s.current_agent_id, messageId],
      );
      await client.query(
        'insert into run_outbox (id, run_id, attempts, created_at) values ($1,$2,0,now())',
        [randomUUID(), runId],
      );
      await client.query('commit');
      await queue.add('run', { runId }, { jobId: runId });
      await client.query('delete from run_outbox where run_id = $1', [runId]);
    } finally {
      client.release();
    }
  });
  await queue.obliterate({ force: true });
  await queue.close();
  await pool.end();
  return latencies;
}

/** add -> processor start with a no-op worker, same Redis. */
async function bareQueueLatency(prefix: string): Promise<number[]> {
  const waits: number[] = [];
  const name = 'bare-latency';
  const worker = new Worker(
    name,
    async (job) => {
      waits.push(Date.now() - (job.data as { t: number }).t);
    },
    { connection: redisConnection(), prefix: `${prefix}bare`, concurrency: 32 },
  );
  const queue = new Queue(name, { connection: redisConnection(), prefix: `${prefix}bare` });
  await atFixedRate(200, 20, async () => {
    await queue.add('job', { t: Date.now() });
  });
  await waitUntil('bare jobs', async () => waits.length >= 200, 60_000);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return waits;
}

void main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
