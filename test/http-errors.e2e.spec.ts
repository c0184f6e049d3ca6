import request from 'supertest';
import { MetricsServer } from '@codelab/platform';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';

describe('HTTP edge: errors, limits, request ids (e2e)', () => {
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp();
    user = await registerUser(t.http);
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers malformed JSON with a 400 problem', async () => {
    const res = await t.http
      .post('/v1/my/projects')
      .set(user.auth)
      .set('Content-Type', 'application/json')
      .send('{"name": "unterminated');
    expectProblem(res, 400, 'MALFORMED_JSON');
  });

  it('answers a body over 1 MiB with a 413 problem and creates nothing', async () => {
    const res = await t.http
      .post('/v1/my/projects')
      .set(user.auth)
      .send({ name: 'big', description: 'x'.repeat(1024 * 1024 + 1) });
    expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
    const list = await t.http.get('/v1/my/projects').set(user.auth).expect(200);
    expect(list.body.items.map((p: { name: string }) => p.name)).not.toContain('big');
  });

  it('accepts a body just under the limit (it is then validated like any other)', async () => {
    const res = await t.http
      .post('/v1/my/projects')
      .set(user.auth)
      .send({ name: 'almost', description: 'x'.repeat(1000 * 1000) });
    // Parsed fine; the description length rule rejects it.
    expectProblem(res, 400, 'VALIDATION_FAILED');
  });

  it('lists every invalid field', async () => {
    const res = await t.http
      .post('/v1/auth/register')
      .send({ email: 5, password: ['x'], extra: true });
    const problem = expectProblem(res, 400, 'VALIDATION_FAILED');
    const fields = (problem.errors as { field: string; messages: string[] }[])
      .map((e) => e.field)
      .sort();
    expect(fields).toEqual(['email', 'extra', 'password']);
  });

  it('rejects a JSON body that is not an object', async () => {
    const res = await t.http
      .post('/v1/my/projects')
      .set(user.auth)
      .set('Content-Type', 'application/json')
      .send('[1,2,3]');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
  });

  it('answers unknown routes with a 404 problem', async () => {
    expectProblem(await t.http.get('/v1/nope').set(user.auth), 404);
    expectProblem(await t.http.get('/nope'), 404);
  });

  it('echoes a sane X-Request-Id and generates one otherwise', async () => {
    const echoed = await t.http.get('/health').set('X-Request-Id', 'req-123.abc').expect(200);
    expect(echoed.headers['x-request-id']).toBe('req-123.abc');

    const generated = await t.http
      .get('/health')
      .set('X-Request-Id', 'bad id with spaces')
      .expect(200);
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);

    const problem = await t.http.get('/v1/my/projects').set('X-Request-Id', 'trace-42');
    expect(expectProblem(problem, 401).request_id).toBe('trace-42');
    expect(problem.headers['x-request-id']).toBe('trace-42');
  });

  it('labels HTTP metrics by route template, never by raw URL', async () => {
    await t.http
      .get('/v1/my/projects/00000000-0000-4000-8000-000000000000')
      .set(user.auth)
      .expect(404);
    const res = await request(t.app.get(MetricsServer).server).get('/metrics').expect(200);
    expect(res.text).toContain('route="/v1/my/projects/:projectId"');
    expect(res.text).not.toContain('00000000-0000-4000-8000-000000000000');
    expect(res.text).toContain('route="unmatched"');
  });
});
