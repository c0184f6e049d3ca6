import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { dropTestDatabase } from './support/test-database';
import { TestSseClient } from './support/sse-client';
import { databaseUrl, TEST_POSTGRES_URL, TEST_REDIS_URL, uniqueSuffix } from './support/test-env';
import {
  type AppProcess,
  freePort,
  httpStatus,
  MAIN_JS,
  startAppProcess,
  waitFor,
  withDeadline,
} from './support/child-process';

/** Registers a user, creates a project and a session, and opens the session's event stream. */
async function openEventStream(base: string): Promise<TestSseClient> {
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
    return (await res.json()) as Record<string, string>;
  };
  const { access_token: token } = await post('/v1/auth/register', {
    email: `sse_${uniqueSuffix()}@example.com`,
    password: 'password123',
  });
  const { id: projectId } = await post('/v1/my/projects', { name: 'sse' }, token);
  const { id: sessionId } = await post(`/v1/my/projects/${projectId}/sessions`, {}, token);
  const sse = await new TestSseClient(
    `${base}/v1/my/projects/${projectId}/sessions/${sessionId}/events`,
    { authorization: `Bearer ${token}` },
  ).open();
  await waitFor('the stream to open', async () => sse.retries.length === 1, 5_000);
  return sse;
}

/** The built app as real processes: start-up, migrations, roles, config errors, SIGTERM. */
describe('app processes (e2e)', () => {
  const dbName = `codelab_test_proc_${uniqueSuffix()}`;
  const running: AppProcess[] = [];

  beforeAll(() => {
    if (!existsSync(MAIN_JS))
      throw new Error(`${MAIN_JS} is missing: run \`npm run build\` (npm test does)`);
  });
  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await dropTestDatabase(dbName);
  });

  const baseEnv = () => ({
    DATABASE_URL: databaseUrl(dbName),
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `codelab-test:${uniqueSuffix()}:`,
    LOG_LEVEL: 'info',
  });

  it('starts with no .env and no JWT secret: creates the database, migrates, generates a dev secret', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'codelab-proc-'));
    const port = await freePort();
    // The default DATA_DIR is the checkout's .codelab (the developer's own secret): not in a test.
    const dataDir = join(cwd, 'data');
    const app = startAppProcess({ ...baseEnv(), PORT: String(port), DATA_DIR: dataDir }, cwd);
    running.push(app);
    const base = `http://127.0.0.1:${port}`;

    await waitFor(
      'the API to answer /ready',
      async () => (await httpStatus(`${base}/ready`)) === 200,
    );
    expect(await httpStatus(`${base}/health`)).toBe(200);
    expect(await httpStatus(`${base}/docs`)).toBe(200);
    expect(app.output()).toMatch(/generated a development secret/);
    expect(readFileSync(join(dataDir, 'jwt-secret'), 'utf8').trim().length).toBeGreaterThanOrEqual(
      32,
    );
    // Structured JSON logs.
    const line = app
      .output()
      .split('\n')
      .find((l) => l.includes('listening on'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ level: 30, service: 'codelab' });
    // The caller's request id is on the request's log line.
    expect(await httpStatus(`${base}/v1/me`, { headers: { 'x-request-id': 'proc-trace-1' } })).toBe(
      401,
    );
    await waitFor(
      'the request log line',
      async () => app.output().includes('"request_id":"proc-trace-1"'),
      5_000,
    );

    const admin = new Client({
      connectionString: TEST_POSTGRES_URL.replace(/\/[^/]*$/, `/${dbName}`),
    });
    await admin.connect();
    const { rows } = await admin.query('select count(*)::int as n from mikro_orm_migrations');
    await admin.end();
    expect(rows[0].n).toBeGreaterThanOrEqual(1);

    app.child.kill('SIGTERM');
    expect(await withDeadline('exit after SIGTERM', app.exited, 15_000)).toBe(0);
  });

  it('on SIGTERM turns /ready 503 first, keeps serving in-flight work, then exits 0', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'codelab-proc-'));
    const port = await freePort();
    const app = startAppProcess(
      {
        ...baseEnv(),
        PORT: String(port),
        JWT_SECRET: 'a'.repeat(40),
        SHUTDOWN_READINESS_DELAY_MS: '1500',
      },
      cwd,
    );
    running.push(app);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      'the API to answer /ready',
      async () => (await httpStatus(`${base}/ready`)) === 200,
    );

    const sse = await openEventStream(base);
    app.child.kill('SIGTERM');
    await waitFor(
      '/ready to turn 503',
      async () => (await httpStatus(`${base}/ready`)) === 503,
      1_000,
    );
    // Still live and serving while the load balancer drains it.
    expect(await httpStatus(`${base}/health`)).toBe(200);
    const registered = await httpStatus(`${base}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: `drain_${uniqueSuffix()}@example.com`,
        password: 'password123',
      }),
    });
    expect(registered).toBe(201);

    expect(await withDeadline('exit after SIGTERM', app.exited, 15_000)).toBe(0);
    await expect(httpStatus(`${base}/health`)).rejects.toThrow();
    // The open event stream got a final retry hint and was closed, so the server could drain.
    await waitFor('the event stream to end', async () => sse.ended, 5_000);
    expect(sse.retries.length).toBeGreaterThanOrEqual(2);
    expect(app.output()).toMatch(/Shutdown complete/);
  });

  it('runs the worker role with its own health, readiness and metrics, and no API routes', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'codelab-proc-'));
    const port = await freePort();
    const app = startAppProcess(
      { ...baseEnv(), APP_ROLE: 'worker', WORKER_PORT: String(port), JWT_SECRET: 'a'.repeat(40) },
      cwd,
    );
    running.push(app);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      'the worker to answer /ready',
      async () => (await httpStatus(`${base}/ready`)) === 200,
    );
    expect(await httpStatus(`${base}/health`)).toBe(200);
    expect(await httpStatus(`${base}/metrics`)).toBe(200);
    expect(await httpStatus(`${base}/v1/my/projects`)).toBe(404);
    expect(await httpStatus(`${base}/docs`)).toBe(404);

    app.child.kill('SIGTERM');
    expect(await withDeadline('worker exit after SIGTERM', app.exited, 15_000)).toBe(0);
  });

  it('refuses to start with invalid configuration, one line per bad variable', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'codelab-proc-'));
    const app = startAppProcess(
      { ...baseEnv(), PORT: 'abc', APP_ROLE: 'both', NODE_ENV: 'production' },
      cwd,
    );
    running.push(app);
    expect(await withDeadline('exit on bad config', app.exited, 15_000)).toBe(1);
    const out = app.output();
    expect(out).toContain('PORT: must be an integer');
    expect(out).toContain('APP_ROLE: must be one of');
    expect(out).toContain('JWT_SECRET: required when NODE_ENV=production');
  });
});
