import { spawnSync } from 'node:child_process';
import request from 'supertest';
import { LifecycleState, MetricsServer } from '@codelab/platform';
import { createTestApp, expectProblem, registerUser, type TestApp } from './support/test-app';

describe('health, readiness and metrics (e2e)', () => {
  describe('with every dependency up', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp();
    });
    afterAll(async () => {
      await t.close();
    });

    it('GET /health is 200 without credentials', async () => {
      const res = await t.http.get('/health').expect(200);
      expect(res.body).toEqual({ status: 'ok' });
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('answers HEAD /health without a body; other methods and paths go on to the framework', async () => {
      const head = await t.http.head('/health').expect(200);
      expect(head.text ?? '').toBe('');
      // Not the liveness fast path: the router's 404 problem.
      expectProblem(await t.http.post('/health'), 404);
      expectProblem(await t.http.get('/health/x'), 404);
      await t.http.get('/health?probe=1').expect(200);
    });

    it('GET /ready is 200 and reports PostgreSQL and Redis', async () => {
      const res = await t.http.get('/ready').expect(200);
      expect(res.body.status).toBe('ok');
      expect(res.body.details).toMatchObject({
        postgres: { status: 'up' },
        redis: { status: 'up' },
        lifecycle: { status: 'up' },
      });
      // Memory in PostgreSQL (no QDRANT_URL): nothing else to check.
      expect(Object.keys(res.body.details).sort()).toEqual(['lifecycle', 'postgres', 'redis']);
    });

    it('GET /metrics is Prometheus text that promtool accepts', async () => {
      // Some traffic first, so the custom series exist.
      const user = await registerUser(t.http);
      await t.http.get('/v1/my/projects').set(user.auth).expect(200);
      await t.http
        .get('/v1/my/projects/00000000-0000-4000-8000-000000000000')
        .set(user.auth)
        .expect(404);

      const res = await request(t.app.get(MetricsServer).server).get('/metrics').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      for (const name of [
        'process_cpu_user_seconds_total',
        'nodejs_eventloop_lag_seconds',
        'codelab_http_request_duration_seconds_bucket',
        'codelab_auth_events_total',
        'codelab_isolation_denials_total',
      ]) {
        expect(res.text).toContain(name);
      }

      const promtool = spawnSync('promtool', ['check', 'metrics'], {
        input: res.text,
        encoding: 'utf8',
      });
      if (promtool.error) {
        throw new Error('promtool is required (Debian package "prometheus"; .ci/run installs it)');
      }
      expect({
        status: promtool.status,
        output: `${promtool.stdout}${promtool.stderr}`.trim(),
      }).toEqual({
        status: 0,
        output: '',
      });
    });

    it('GET /ready is 503 once shutdown has begun, while /health stays 200', async () => {
      t.app.get(LifecycleState).beginShutdown();
      const res = await t.http.get('/ready');
      const problem = expectProblem(res, 503, 'NOT_READY');
      expect(problem.checks).toMatchObject({ error: { lifecycle: { status: 'down' } } });
      await t.http.get('/health').expect(200);
    });
  });

  describe('with Redis unreachable', () => {
    let t: TestApp;
    beforeAll(async () => {
      // Nothing listens on port 1: every connection attempt is refused.
      t = await createTestApp({ env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    });
    afterAll(async () => {
      await t.close();
    });

    it('still boots and stays live', async () => {
      await t.http.get('/health').expect(200);
    });

    it('GET /ready is 503 with the failing check named', async () => {
      const res = await t.http.get('/ready');
      const problem = expectProblem(res, 503, 'NOT_READY');
      expect(problem.checks).toMatchObject({
        error: { redis: { status: 'down' } },
        info: { postgres: { status: 'up' } },
      });
    });

    it('keeps serving the API (the rate limiter fails open)', async () => {
      const user = await registerUser(t.http);
      await t.http.get('/v1/me').set(user.auth).expect(200);
    });
  });

  describe('with memory in Qdrant, and Qdrant unreachable', () => {
    let t: TestApp;
    beforeAll(async () => {
      // Nothing listens on port 1: the memory store's health check fails (connection refused).
      t = await createTestApp({ env: { QDRANT_URL: 'http://127.0.0.1:1' } });
    });
    afterAll(async () => {
      await t.close();
    });

    it('still boots and stays live', async () => {
      await t.http.get('/health').expect(200);
    });

    it('GET /ready is 503 problem+json naming the qdrant check, the others up', async () => {
      const res = await t.http.get('/ready');
      const problem = expectProblem(res, 503, 'NOT_READY');
      expect(problem.checks).toMatchObject({
        error: { qdrant: { status: 'down', message: expect.any(String) } },
        info: {
          postgres: { status: 'up' },
          redis: { status: 'up' },
          lifecycle: { status: 'up' },
        },
      });
    });
  });
});
