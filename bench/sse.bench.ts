/**
 * `npm run bench:sse` — SSE delivery on this machine:
 *   1. 500 concurrent clients on one API process: delivery lag (append -> received) p50/p99 and
 *      memory per client, next to a bare Node SSE server fed by an in-process emitter;
 *   2. platform-added time to first token at 50 concurrent sessions (API + worker processes):
 *      the offline model's first token (the token event's timestamp) -> the first token frame at
 *      the client, and POST -> first token frame.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
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

const CLIENTS = Number(process.env.BENCH_SSE_CLIENTS ?? 500);
const SESSIONS = Number(process.env.BENCH_SSE_SESSIONS ?? 100);
const RATE = Number(process.env.BENCH_SSE_RATE ?? 10);
const DURATION_MS = Number(process.env.BENCH_SSE_DURATION_MS ?? 10_000);
const TTFT_SESSIONS = Number(process.env.BENCH_TTFT_SESSIONS ?? 50);

const rssKb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

interface Listener {
  close(): void;
}

/** Opens an SSE connection and calls onEvent(type, envelope, receivedAt) per frame. */
function listen(
  url: string,
  headers: Record<string, string>,
  onEvent: (type: string, data: Record<string, unknown>, at: number) => void,
): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { headers: { accept: 'text/event-stream', ...headers }, agent: false },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`SSE answered ${res.statusCode}`));
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const at = Date.now();
          buffer += chunk;
          let i: number;
          while ((i = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            const type = /^event: (.*)$/m.exec(frame)?.[1];
            const data = /^data: (.*)$/m.exec(frame)?.[1];
            if (type && data) onEvent(type, JSON.parse(data) as Record<string, unknown>, at);
          }
        });
        resolve({ close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function connectAll(
  urls: string[],
  headers: Record<string, string>,
  lags: number[],
): Promise<Listener[]> {
  const out: Listener[] = [];
  for (let i = 0; i < urls.length; i += 50) {
    out.push(
      ...(await Promise.all(
        urls
          .slice(i, i + 50)
          .map((u) =>
            listen(
              u,
              headers,
              (type, data, at) => type === 'token' && lags.push(at - Date.parse(String(data.ts))),
            ),
          ),
      )),
    );
  }
  return out;
}

async function productFanOut(): Promise<{ lags: number[]; perClientKb: number }> {
  const tag = randomBytes(4).toString('hex');
  const dbName = `codelab_bench_sse_${tag}`;
  const prefix = `codelab-bench:${tag}:`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const api = startProcess({
    APP_ROLE: 'api',
    PORT: String(port),
    DATABASE_URL: databaseUrl(dbName),
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    JWT_SECRET: randomBytes(32).toString('hex'),
    RATE_LIMIT_PER_WINDOW: '1000000',
    RATE_LIMIT_AUTH_PER_WINDOW: '1000000',
    STREAM_MAX_LENGTH: '1000',
  });
  const redis = new Redis(REDIS_URL);
  try {
    await waitUntil('the API', async () => (await fetch(`${base}/ready`)).status === 200);
    const token = (
      await http<{ access_token: string }>('POST', `${base}/v1/auth/register`, {
        email: `sse-${tag}@example.com`,
        password: 'bench-password',
      })
    ).body.access_token;
    const project = (
      await http<{ id: string }>('POST', `${base}/v1/my/projects`, { name: 'sse' }, token)
    ).body.id;
    const sessions: string[] = [];
    for (let i = 0; i < SESSIONS; i++)
      sessions.push(
        (
          await http<{ id: string }>(
            'POST',
            `${base}/v1/my/projects/${project}/sessions`,
            {},
            token,
          )
        ).body.id,
      );
    await new Promise((r) => setTimeout(r, 1000));
    const before = rssKb(api.pid as number);
    const lags: number[] = [];
    const urls = Array.from(
      { length: CLIENTS },
      (_, i) => `${base}/v1/my/projects/${project}/sessions/${sessions[i % SESSIONS]}/events`,
    );
    const clients = await connectAll(urls, { authorization: `Bearer ${token}` }, lags);
    await new Promise((r) => setTimeout(r, 2000));
    const after = rssKb(api.pid as number);
    // This process plays the worker: it appends to the session streams as the product does.
    const until = Date.now() + DURATION_MS;
    while (Date.now() < until) {
      const tick = Date.now();
      const pipeline = redis.pipeline();
      for (const s of sessions) {
        const key = `${prefix}events:session:${s}`;
        const envelope = {
          type: 'token',
          session_id: s,
          run_id: null,
          agent_id: null,
          ts: new Date().toISOString(),
          payload: { text: 'x ' },
        };
        pipeline
          .xadd(key, 'MAXLEN', '1000', '*', 'type', 'token', 'data', JSON.stringify(envelope))
          .pexpire(key, 600_000);
      }
      await pipeline.exec();
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 / RATE - (Date.now() - tick))));
    }
    await new Promise((r) => setTimeout(r, 1000));
    for (const c of clients) c.close();
    return { lags, perClientKb: (after - before) / CLIENTS };
  } finally {
    redis.disconnect();
    api.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    await dropDatabase(dbName).catch(() => undefined);
  }
}

async function bareFanOut(): Promise<{ lags: number[]; perClientKb: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(__dirname, 'bare-sse-server.js')], {
    env: { PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((r) => child.stdout?.once('data', r));
  try {
    await new Promise((r) => setTimeout(r, 500));
    const before = rssKb(child.pid as number);
    const lags: number[] = [];
    const urls = Array.from(
      { length: CLIENTS },
      (_, i) => `http://127.0.0.1:${port}/events?session=${i % SESSIONS}`,
    );
    const clients = await connectAll(urls, {}, lags);
    await new Promise((r) => setTimeout(r, 2000));
    const after = rssKb(child.pid as number);
    await fetch(
      `http://127.0.0.1:${port}/start?sessions=${SESSIONS}&rate=${RATE}&duration=${DURATION_MS}`,
    );
    await new Promise((r) => setTimeout(r, DURATION_MS + 1000));
    for (const c of clients) c.close();
    return { lags, perClientKb: (after - before) / CLIENTS };
  } finally {
    child.kill('SIGTERM');
  }
}

async function timeToFirstToken(): Promise<{ platform: number[]; fromPost: number[] }> {
  const tag = randomBytes(4).toString('hex');
  const dbName = `codelab_bench_ttft_${tag}`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const common = {
    DATABASE_URL: databaseUrl(dbName),
    REDIS_URL,
    REDIS_KEY_PREFIX: `codelab-bench:${tag}:`,
    JWT_SECRET: randomBytes(32).toString('hex'),
    RATE_LIMIT_PER_WINDOW: '1000000',
    RATE_LIMIT_AUTH_PER_WINDOW: '1000000',
    OFFLINE_LLM_TOKEN_DELAY_MS: '20',
    DB_POOL_MAX: process.env.BENCH_DB_POOL_MAX ?? '10',
  };
  const api = startProcess({ ...common, APP_ROLE: 'api', PORT: String(port) });
  let worker: ReturnType<typeof startProcess> | undefined;
  try {
    await waitUntil('the API', async () => (await fetch(`${base}/ready`)).status === 200);
    worker = startProcess({
      ...common,
      APP_ROLE: 'worker',
      WORKER_PORT: String(await freePort()),
      WORKER_CONCURRENCY: '64',
      DB_MIGRATE_ON_START: 'false',
    });
    const { token, project, agents } = await createBenchProject(base, tag);
    const platform: number[] = [];
    const fromPost: number[] = [];
    const sessions: string[] = [];
    for (let i = 0; i < TTFT_SESSIONS; i++) {
      sessions.push(
        (
          await http<{ id: string }>(
            'POST',
            `${base}/v1/my/projects/${project}/sessions`,
            { agent: agents[i % agents.length].id },
            token,
          )
        ).body.id,
      );
    }
    for (let round = 0; round < 3; round++) {
      const firstToken = new Map<string, { at: number; ts: number }>();
      const listeners = await Promise.all(
        sessions.map((s) =>
          listen(
            `${base}/v1/my/projects/${project}/sessions/${s}/events`,
            { authorization: `Bearer ${token}` },
            (type, data, at) => {
              if (type === 'token' && !firstToken.has(s))
                firstToken.set(s, { at, ts: Date.parse(String(data.ts)) });
            },
          ),
        ),
      );
      const posted = new Map<string, number>();
      await Promise.all(
        sessions.map(async (s) => {
          posted.set(s, Date.now());
          await http(
            'POST',
            `${base}/v1/my/projects/${project}/sessions/${s}/messages`,
            { content: `ttft round ${round}` },
            token,
          );
        }),
      );
      await waitUntil('first tokens', async () => firstToken.size === sessions.length, 60_000);
      for (const [s, f] of firstToken) {
        platform.push(f.at - f.ts);
        fromPost.push(f.at - (posted.get(s) as number));
      }
      for (const l of listeners) l.close();
      await new Promise((r) => setTimeout(r, 3000));
    }
    return { platform, fromPost };
  } finally {
    worker?.kill('SIGTERM');
    api.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    await dropDatabase(dbName).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const product = await productFanOut();
  const bare = await bareFanOut();
  const ttft = await timeToFirstToken();
  const rows = [
    [
      `CodeLab SSE, ${CLIENTS} clients / ${SESSIONS} sessions`,
      `${product.lags.length} deliveries`,
      fmt(percentile(product.lags, 50)),
      fmt(percentile(product.lags, 99)),
      `${product.perClientKb.toFixed(1)} KiB`,
    ],
    [
      `bare Node SSE + emitter, same load`,
      `${bare.lags.length} deliveries`,
      fmt(percentile(bare.lags, 50)),
      fmt(percentile(bare.lags, 99)),
      `${bare.perClientKb.toFixed(1)} KiB`,
    ],
    [
      `model first token -> client, ${TTFT_SESSIONS} sessions`,
      `${ttft.platform.length} runs`,
      fmt(percentile(ttft.platform, 50)),
      fmt(percentile(ttft.platform, 99)),
      '',
    ],
    [
      `POST -> first token frame, ${TTFT_SESSIONS} sessions`,
      `${ttft.fromPost.length} runs`,
      fmt(percentile(ttft.fromPost, 50)),
      fmt(percentile(ttft.fromPost, 99)),
      '',
    ],
  ];
  printTable(['scenario', 'sample', 'p50', 'p99', 'memory/client'], rows);
}

void main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
