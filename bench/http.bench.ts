/**
 * HTTP overhead: the product's API process against a bare node:http baseline doing the same work
 * (bench/bare-http-server.ts), side by side in one run, alternating rounds so drift hits both.
 *
 *   npm run bench:http            (BENCH_ROUNDS=3 BENCH_SECONDS=5 BENCH_CONNECTIONS=50)
 *   BENCH_PROFILE=cpu npm run bench:http   also a V8 CPU profile of the API process, summarised
 *   BENCH_API_NODE_OPTIONS=...               Node/V8 options for the API process only
 *
 * Scenarios: GET /health; authed GET /v1/my/projects/{id} (JWT + ownership + one row). Also the
 * API process's resident memory idle and after the load. autocannon drives both servers from this
 * process; medians of the rounds are printed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import {
  benchSetup,
  deleteRedisKeys,
  dropDatabase,
  freePort,
  http,
  printTable,
  ROOT,
  startProcess,
  waitUntil,
} from './support';
import { printProfileSummary, summariseCpuProfile } from './cpu-profile';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PROFILE = process.env.BENCH_PROFILE === 'cpu';

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

async function load(url: string, headers: Record<string, string>, seconds = SECONDS) {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds, headers });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  } satisfies Sample;
}

async function main(): Promise<void> {
  const setup = await benchSetup('http');
  const barePort = await freePort();
  const children: ChildProcess[] = [];
  try {
    const profileDir = join(setup.dir, 'profile');
    const api = startProcess(
      {
        ...setup.env,
        APP_ROLE: 'api',
        PORT: String(setup.port),
        METRICS_PORT: '0',
        DB_MIGRATE_ON_START: 'true',
        NODE_ENV: 'production',
        // e.g. BENCH_API_NODE_OPTIONS=--max-semi-space-size=4 to weigh V8 heap sizing.
        ...(process.env.BENCH_API_NODE_OPTIONS
          ? { NODE_OPTIONS: process.env.BENCH_API_NODE_OPTIONS }
          : {}),
      },
      PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
    );
    children.push(api);
    await waitUntil('the API', async () => (await fetch(`${setup.base}/ready`)).ok);

    const reg = await http<{ access_token: string }>('POST', `${setup.base}/v1/auth/register`, {
      email: `bench-${setup.tag}@example.com`,
      password: 'bench-password',
    });
    const token = reg.body.access_token;
    const project = (
      await http<{ id: string }>('POST', `${setup.base}/v1/my/projects`, { name: 'bench' }, token)
    ).body.id;
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as {
      iss: string;
      aud: string;
    };

    const bare = spawn(process.execPath, [join(ROOT, 'dist', 'bench', 'bare-http-server.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(barePort),
        DATABASE_URL: setup.dbUrl,
        JWT_SECRET: setup.env.JWT_SECRET,
        JWT_ISSUER: claims.iss,
        JWT_AUDIENCE: claims.aud,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(bare);
    const bareBase = `http://127.0.0.1:${barePort}`;
    await waitUntil('the bare server', async () => (await fetch(`${bareBase}/health`)).ok);

    // Both answer the same body for the project: the baseline does the same work.
    const auth = { authorization: `Bearer ${token}` };
    const [mine, theirs] = await Promise.all(
      [setup.base, bareBase].map(async (b) =>
        (await fetch(`${b}/v1/my/projects/${project}`, { headers: auth })).json(),
      ),
    );
    for (const key of ['id', 'name', 'created_at'])
      if ((mine as Record<string, unknown>)[key] !== (theirs as Record<string, unknown>)[key])
        throw new Error(`the baseline answers differently: ${key}`);

    // Warm both (JIT, pools), then measure idle memory.
    for (const b of [setup.base, bareBase]) {
      await load(`${b}/health`, {}, 2);
      await load(`${b}/v1/my/projects/${project}`, auth, 2);
    }
    global.gc?.();
    const idleRss = rssMiB(api.pid as number);
    const bareIdleRss = rssMiB(bare.pid as number);

    const scenarios = [
      { name: 'GET /health', path: '/health', headers: {} },
      {
        name: 'authed GET /v1/my/projects/{id}',
        path: `/v1/my/projects/${project}`,
        headers: auth,
      },
    ];
    // BENCH_ONLY=<text>: only the scenarios whose name contains it (e.g. to profile one).
    if (process.env.BENCH_ONLY)
      scenarios.splice(
        0,
        scenarios.length,
        ...scenarios.filter((s) => s.name.includes(process.env.BENCH_ONLY as string)),
      );
    const samples = new Map<string, Sample[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of scenarios) {
        const targets = round % 2 ? ['bare', 'product'] : ['product', 'bare'];
        for (const target of targets) {
          const base = target === 'bare' ? bareBase : setup.base;
          const sample = await load(`${base}${s.path}`, s.headers);
          const key = `${s.name}|${target}`;
          samples.set(key, [...(samples.get(key) ?? []), sample]);
          process.stderr.write(
            `round ${round + 1} ${s.name} ${target}: ${sample.rps.toFixed(0)} req/s p50 ${sample.p50} p99 ${sample.p99} errors ${sample.errors}\n`,
          );
        }
      }
    }
    const loadedRss = rssMiB(api.pid as number);

    const summary = (key: string) => {
      const xs = samples.get(key) ?? [];
      return {
        rps: median(xs.map((x) => x.rps)),
        p50: median(xs.map((x) => x.p50)),
        p99: median(xs.map((x) => x.p99)),
        errors: xs.reduce((n, x) => n + x.errors, 0),
      };
    };
    const rows = scenarios.map((s) => {
      const p = summary(`${s.name}|product`);
      const b = summary(`${s.name}|bare`);
      return [
        s.name,
        `${p.rps.toFixed(0)} req/s, p50 ${p.p50} ms, p99 ${p.p99} ms, ${p.errors} errors`,
        `${b.rps.toFixed(0)} req/s, p50 ${b.p50} ms, p99 ${b.p99} ms, ${b.errors} errors`,
        `${(p.rps / b.rps).toFixed(2)}x`,
        `p99 ${(p.p99 / Math.max(b.p99, 1)).toFixed(1)}x`,
      ];
    });
    rows.push([
      'resident memory, API process',
      `${idleRss.toFixed(0)} MiB idle (warm), ${loadedRss.toFixed(0)} MiB after the load`,
      `${bareIdleRss.toFixed(0)} MiB idle`,
      '',
      '',
    ]);
    process.stdout.write(
      `\nHTTP overhead: ${ROUNDS} alternating rounds of ${SECONDS} s, ${CONNECTIONS} connections (medians)\n`,
    );
    printTable(['scenario', 'CodeLab', 'bare node:http', 'req/s ratio', 'latency'], rows);
    if (PROFILE) {
      // The profile is written when the process exits (startup included).
      api.kill('SIGTERM');
      if (api.exitCode === null) await new Promise((r) => api.once('exit', r));
      const [file] = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
      if (file) {
        const kept = join(tmpdir(), `codelab-http-${setup.tag}.cpuprofile`);
        copyFileSync(join(profileDir, file), kept);
        printProfileSummary(`API process (${kept})`, summariseCpuProfile(kept));
      }
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((c) =>
        c.exitCode === null ? new Promise((r) => c.once('exit', r)) : Promise.resolve(),
      ),
    );
    await dropDatabase(setup.dbName);
    await deleteRedisKeys(setup.prefix);
    rmSync(setup.dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
