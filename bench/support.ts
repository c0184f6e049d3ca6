import { Redis } from 'ioredis';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

export const ROOT = join(__dirname, '..', '..');
export const MAIN_JS = join(ROOT, 'dist', 'apps', 'api', 'src', 'main.js');
export const PG_ADMIN =
  process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

export function databaseUrl(name: string): string {
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(name: string): Promise<void> {
  const c = new Client({ connectionString: PG_ADMIN });
  await c.connect();
  await c.query(`drop database if exists "${name}" with (force)`);
  await c.end();
}

/** A product process (API or worker, by APP_ROLE); `nodeArgs` go before the script (profiling). */
export function startProcess(env: Record<string, string>, nodeArgs: string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, MAIN_JS], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function http<T = Record<string, unknown>>(
  method: string,
  url: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

/** Fires `count` calls at a fixed rate; latency counts from each call's scheduled time. */
export async function atFixedRate(
  count: number,
  perSecond: number,
  call: (i: number) => Promise<void>,
): Promise<number[]> {
  const interval = 1000 / perSecond;
  const start = performance.now();
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const scheduled = start + i * interval;
      const wait = scheduled - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await call(i);
      latencies.push(performance.now() - scheduled);
    }),
  );
  return latencies;
}

/** Prints a Markdown table sized to its contents. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
  process.stdout.write(`\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
}

/** A fresh user with a project whose starter agents may each run 32 runs at once. */
export async function createBenchProject(
  base: string,
  tag: string,
): Promise<{ token: string; project: string; agents: { id: string }[] }> {
  const reg = await http<{ access_token: string }>('POST', `${base}/v1/auth/register`, {
    email: `bench-${tag}@example.com`,
    password: 'bench-password',
  });
  const token = reg.body.access_token;
  const project = (
    await http<{ id: string }>('POST', `${base}/v1/my/projects`, { name: `bench ${tag}` }, token)
  ).body.id;
  const url = `${base}/v1/my/projects/${project}/agents`;
  const agents = (await http<{ items: { id: string }[] }>('GET', url, undefined, token)).body.items;
  for (const a of agents) await http('PATCH', `${url}/${a.id}`, { concurrency_limit: 32 }, token);
  return { token, project, agents };
}

/**
 * What every product benchmark starts from: a tag, its own database and Redis key prefix, a
 * scratch directory, a port, and the environment its product processes share (lenient rate
 * limits, the offline model at 0 ms per token, workspaces in the scratch directory).
 */
export async function benchSetup(name: string) {
  const tag = randomBytes(4).toString('hex');
  const dbName = `codelab_bench_${name ? `${name}_` : ''}${tag}`;
  const prefix = `codelab-bench:${tag}:`;
  const dir = mkdtempSync(join(tmpdir(), `codelab-bench-${tag}-`));
  const port = await freePort();
  const dbUrl = databaseUrl(dbName);
  const env: Record<string, string> = {
    DATABASE_URL: dbUrl,
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    JWT_SECRET: randomBytes(32).toString('hex'),
    RATE_LIMIT_PER_WINDOW: '1000000',
    RATE_LIMIT_AUTH_PER_WINDOW: '1000000',
    OFFLINE_LLM_TOKEN_DELAY_MS: '0',
    WORKSPACES_DIR: join(dir, 'workspaces'),
  };
  return { tag, dbName, prefix, dir, port, base: `http://127.0.0.1:${port}`, dbUrl, env };
}

/** Removes the benchmark's Redis keys (its own prefix). */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}
