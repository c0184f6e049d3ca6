import { once } from 'node:events';
import { existsSync, mkdtempSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropTestDatabase } from './support/test-database';
import { databaseUrl, TEST_REDIS_URL, uniqueSuffix } from './support/test-env';
import {
  type AppProcess,
  freePort,
  httpStatus,
  MAIN_JS,
  startAppProcess,
  waitFor,
  withDeadline,
} from './support/child-process';

/** True when nothing accepts connections on the port any more. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** The built app as real processes: where /metrics is served, shutdown, production secrets. */
describe('app processes: metrics port, server limits, secrets (e2e)', () => {
  const dbName = `codelab_test_proch_${uniqueSuffix()}`;
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
    JWT_SECRET: 'a'.repeat(40),
  });

  const start = async (env: Record<string, string>, readyPort: number) => {
    const app = startAppProcess({ ...baseEnv(), ...env }, mkdtempSync(join(tmpdir(), 'codelab-')));
    running.push(app);
    await waitFor(
      'the process to answer /ready',
      async () => (await httpStatus(`http://127.0.0.1:${readyPort}/ready`)) === 200,
    );
    return app;
  };

  it('serves /metrics on METRICS_PORT only, and drains a kept-alive connection on SIGTERM at once', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const app = await start({ PORT: String(port), METRICS_PORT: String(metricsPort) }, port);
    const base = `http://127.0.0.1:${port}`;

    expect(await httpStatus(`${base}/metrics`)).toBe(404);
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toContain('codelab_http_request_duration_seconds');
    expect(app.output()).toContain(`Prometheus metrics on :${metricsPort}/metrics`);

    // A request whose body is still on its way when the server closes: once answered, its
    // connection is idle, and must not hold shutdown for the 65 s keep-alive (past the 25 s
    // grace, which would end in exit 1).
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined);
    const socketClosed = once(socket, 'close');
    socket.write(
      'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n',
    );
    const sigterm = Date.now();
    app.child.kill('SIGTERM');
    await waitFor('the API port to stop accepting', () => refused(port), 10_000);
    socket.write('{}');
    await withDeadline('the server to close the answered connection', socketClosed, 5_000);
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    expect(received.toLowerCase()).toContain('connection: keep-alive');
    expect(await withDeadline('exit after SIGTERM', app.exited, 10_000)).toBe(0);
    expect(Date.now() - sigterm).toBeLessThan(10_000);
    expect(await refused(metricsPort)).toBe(true);
  });

  it('keeps serving the API when METRICS_PORT is taken, and says so', async () => {
    const port = await freePort();
    const squatter = createServer();
    squatter.listen(0);
    await once(squatter, 'listening');
    const taken = (squatter.address() as { port: number }).port;
    try {
      const app = await start({ PORT: String(port), METRICS_PORT: String(taken) }, port);
      expect(await httpStatus(`http://127.0.0.1:${port}/health`)).toBe(200);
      await waitFor(
        'the error line',
        async () =>
          app
            .output()
            .includes(`Prometheus metrics NOT served: cannot listen on METRICS_PORT ${taken}`),
        5_000,
      );
      app.child.kill('SIGTERM');
      expect(await withDeadline('exit after SIGTERM', app.exited, 15_000)).toBe(0);
    } finally {
      squatter.close();
    }
  });

  it('a worker keeps /metrics on WORKER_PORT and opens no METRICS_PORT', async () => {
    const workerPort = await freePort();
    const metricsPort = await freePort();
    const app = await start(
      { APP_ROLE: 'worker', WORKER_PORT: String(workerPort), METRICS_PORT: String(metricsPort) },
      workerPort,
    );
    expect(await httpStatus(`http://127.0.0.1:${workerPort}/metrics`)).toBe(200);
    expect(await refused(metricsPort)).toBe(true);
    app.child.kill('SIGTERM');
    expect(await withDeadline('worker exit after SIGTERM', app.exited, 15_000)).toBe(0);
  });

  it('refuses to start in production with the JWT secret docker-compose.yml ships', async () => {
    const secret = 'change-me-to-a-32-byte-random-secret!!';
    const app = startAppProcess(
      { ...baseEnv(), NODE_ENV: 'production', JWT_SECRET: secret, PORT: String(await freePort()) },
      mkdtempSync(join(tmpdir(), 'codelab-')),
    );
    running.push(app);
    expect(await withDeadline('exit on a placeholder secret', app.exited, 15_000)).toBe(1);
    expect(app.output()).toContain('JWT_SECRET: is a sample or placeholder value');
    expect(app.output()).not.toContain(secret);
  });
});
