import request from 'supertest';
import { MetricsServer } from '@codelab/platform';
import { RequestContext } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { AccessTokenService } from '@codelab/auth';
import { UsersService } from '@codelab/users';
import { createTestApp, expectProblem, type TestApp } from './support/test-app';

describe('rate limiting (e2e, Redis-backed)', () => {
  let t: TestApp;
  let replica: TestApp;

  beforeAll(async () => {
    const env = { RATE_LIMIT_AUTH_PER_WINDOW: '3', RATE_LIMIT_PER_WINDOW: '8' };
    t = await createTestApp({ env });
    // A second API instance on the same database and Redis: a replica behind the same balancer.
    replica = await createTestApp({ env, shareWith: t });
  });
  afterAll(async () => {
    await replica.close();
    await t.close();
  });

  it('limits login per IP with a 429 problem and Retry-After, across replicas', async () => {
    const attempt = (app: TestApp) =>
      app.http
        .post('/v1/auth/login')
        .send({ email: 'someone@example.com', password: 'wrong password' });
    for (let i = 0; i < 3; i++) expectProblem(await attempt(t), 401, 'INVALID_CREDENTIALS');

    const limited = await attempt(t);
    expectProblem(limited, 429, 'RATE_LIMITED');
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // The other replica sees the same counters.
    expectProblem(await attempt(replica), 429, 'RATE_LIMITED');
  });

  it('keys the general limit by user, not by IP', async () => {
    const alice = await registerUserDirect(t);
    const bob = await registerUserDirect(t);
    for (let i = 0; i < 8; i++) await t.http.get('/v1/me').set(alice.auth).expect(200);
    const limited = await t.http.get('/v1/me').set(alice.auth);
    expectProblem(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Same IP, other user: unaffected.
    await t.http.get('/v1/me').set(bob.auth).expect(200);
  });

  it('counts rejections in /metrics', async () => {
    // prom-client's registry is process-global, and the replica registered last: its /metrics
    // shows the replica's own rejection from the first test.
    const res = await request(replica.app.get(MetricsServer).server).get('/metrics').expect(200);
    const match = /codelab_rate_limit_rejections_total (\d+)/.exec(res.text);
    expect(Number(match?.[1])).toBe(1);
  });

  /**
   * The IP-keyed budgets are exhausted by the first test, so accounts for this one are created
   * through the users feature directly rather than over HTTP.
   */
  async function registerUserDirect(app: TestApp) {
    const orm = app.app.get(MikroORM);
    const user = await RequestContext.create(orm.em, () =>
      app.app
        .get(UsersService)
        .register(`${Math.random().toString(36).slice(2)}@example.com`, 'password123'),
    );
    const token = app.app.get(AccessTokenService).issue(user.id).token;
    return { id: user.id, auth: { Authorization: `Bearer ${token}` } };
  }

  it('is not applied to probes and metrics', async () => {
    for (let i = 0; i < 12; i++) await t.http.get('/health').expect(200);
  });
});
