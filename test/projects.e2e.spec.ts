import { randomUUID } from 'node:crypto';
import request, { type Response } from 'supertest';
import { MetricsServer } from '@codelab/platform';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';

describe('projects (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    t = await createTestApp();
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
  });
  afterAll(async () => {
    await t.close();
  });

  const create = async (user: TestUser, name: string, description?: string) =>
    (await t.http.post('/v1/my/projects').set(user.auth).send({ name, description }).expect(201))
      .body;

  it('creates, reads, renames, describes and deletes a project', async () => {
    const created = await create(alice, '  Payments  ', 'First draft');
    expect(created).toEqual({
      id: expect.any(String),
      name: 'Payments',
      description: 'First draft',
      settings: {
        commands_enabled: false,
        commands_need_approval: true,
        agent_denied_paths: [],
        approval_tools: [],
        approval_deadline_seconds: 300,
        approval_default_actions: { tool: 'reject', command: 'reject' },
        require_plan_approval: false,
      },
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });

    const read = await t.http.get(`/v1/my/projects/${created.id}`).set(alice.auth).expect(200);
    expect(read.body).toEqual(created);

    const renamed = await t.http
      .patch(`/v1/my/projects/${created.id}`)
      .set(alice.auth)
      .send({ name: 'Payments v2' })
      .expect(200);
    expect(renamed.body).toMatchObject({ name: 'Payments v2', description: 'First draft' });

    const cleared = await t.http
      .patch(`/v1/my/projects/${created.id}`)
      .set(alice.auth)
      .send({ description: null })
      .expect(200);
    expect(cleared.body).toMatchObject({ name: 'Payments v2', description: null });

    await t.http.delete(`/v1/my/projects/${created.id}`).set(alice.auth).expect(204);
    expectProblem(
      await t.http.get(`/v1/my/projects/${created.id}`).set(alice.auth),
      404,
      'NOT_FOUND',
    );
    expectProblem(
      await t.http.delete(`/v1/my/projects/${created.id}`).set(alice.auth),
      404,
      'NOT_FOUND',
    );
  });

  it('keeps settings: a change touches only the settings it names; bad ones are a 400', async () => {
    const created = (
      await t.http
        .post('/v1/my/projects')
        .set(alice.auth)
        .send({ name: 'Settings', settings: { commands_enabled: true } })
        .expect(201)
    ).body;
    expect(created.settings).toMatchObject({
      commands_enabled: true,
      commands_need_approval: true,
      agent_denied_paths: [],
    });
    const changed = await t.http
      .patch(`/v1/my/projects/${created.id}`)
      .set(alice.auth)
      .send({ settings: { agent_denied_paths: ['secrets/**'] } })
      .expect(200);
    expect(changed.body.settings).toMatchObject({
      commands_enabled: true,
      commands_need_approval: true,
      agent_denied_paths: ['secrets/**'],
      approval_deadline_seconds: 300,
    });
    for (const settings of [
      { commands_enabled: 'yes' },
      { agent_denied_paths: 'secrets/**' },
      { unknown_setting: true },
      { commands_need_approval: null },
      { approval_deadline_seconds: 5 },
      { approval_default_actions: { tool: 'maybe', command: 'reject' } },
    ])
      expectProblem(
        await t.http.patch(`/v1/my/projects/${created.id}`).set(alice.auth).send({ settings }),
        400,
        'VALIDATION_FAILED',
      );
  });

  it('lists newest first with keyset pagination and no gaps or repeats', async () => {
    const carol = await registerUser(t.http);
    const names = Array.from({ length: 7 }, (_, i) => `p${i}`);
    for (const name of names) await create(carol, name);

    const seen: { name: string; created_at: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Response = await t.http
        .get('/v1/my/projects')
        .query(cursor ? { limit: 3, cursor } : { limit: 3 })
        .set(carol.auth)
        .expect(200);
      expect(res.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.items);
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    // Every project exactly once, newest first (ties on created_at are broken by id).
    expect(seen.map((p) => p.name).sort()).toEqual(names);
    const times = seen.map((p) => Date.parse(p.created_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('rejects bad pagination input with 400', async () => {
    for (const query of [{ limit: 0 }, { limit: 101 }, { limit: 'ten' }, { cursor: 'garbage' }]) {
      expectProblem(await t.http.get('/v1/my/projects').query(query).set(alice.auth), 400);
    }
  });

  describe("another user's project", () => {
    let project: { id: string; name: string };
    beforeAll(async () => {
      project = await create(alice, 'Secret plans');
    });

    it('is a 404 on every project route, identical to a missing one', async () => {
      const missing = randomUUID();
      const routes = [
        (id: string) => t.http.get(`/v1/my/projects/${id}`).set(bob.auth),
        (id: string) =>
          t.http.patch(`/v1/my/projects/${id}`).set(bob.auth).send({ name: 'mine now' }),
        (id: string) => t.http.delete(`/v1/my/projects/${id}`).set(bob.auth),
      ];
      for (const route of routes) {
        const foreign = expectProblem(await route(project.id), 404, 'NOT_FOUND');
        const absent = expectProblem(await route(missing), 404, 'NOT_FOUND');
        expect(foreign.detail).toBe(absent.detail);
        expect(foreign.title).toBe(absent.title);
      }
      // Nothing changed for the owner.
      const still = await t.http.get(`/v1/my/projects/${project.id}`).set(alice.auth).expect(200);
      expect(still.body.name).toBe('Secret plans');
    });

    it("never appears in the other user's list", async () => {
      const res = await t.http
        .get('/v1/my/projects')
        .query({ limit: 100 })
        .set(bob.auth)
        .expect(200);
      expect(res.body.items.map((p: { id: string }) => p.id)).not.toContain(project.id);
    });

    it('counts the denials in /metrics', async () => {
      const res = await request(t.app.get(MetricsServer).server).get('/metrics').expect(200);
      const match = /codelab_isolation_denials_total\{resource="project"\} (\d+)/.exec(res.text);
      expect(Number(match?.[1])).toBeGreaterThanOrEqual(3);
    });
  });

  it('validates bodies and ids', async () => {
    expectProblem(
      await t.http.post('/v1/my/projects').set(alice.auth).send({}),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await t.http.post('/v1/my/projects').set(alice.auth).send({ name: '   ' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await t.http
        .post('/v1/my/projects')
        .set(alice.auth)
        .send({ name: 'x'.repeat(201) }),
      400,
    );
    expectProblem(
      await t.http.post('/v1/my/projects').set(alice.auth).send({ name: 42 }),
      400,
      'VALIDATION_FAILED',
    );
    const p = await create(alice, 'Valid');
    expectProblem(
      await t.http.patch(`/v1/my/projects/${p.id}`).set(alice.auth).send({ name: null }),
      400,
    );
    const massAssign = await t.http
      .post('/v1/my/projects')
      .set(alice.auth)
      .send({ name: 'x', owner_id: bob.id });
    const problem = expectProblem(massAssign, 400, 'VALIDATION_FAILED');
    expect(JSON.stringify(problem.errors)).toContain('owner_id');
    expectProblem(
      await t.http.get('/v1/my/projects/not-a-uuid').set(alice.auth),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await t.http.delete('/v1/my/projects/123').set(alice.auth),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('requires authentication on every route', async () => {
    const id = randomUUID();
    expectProblem(await t.http.get('/v1/my/projects'), 401);
    expectProblem(await t.http.post('/v1/my/projects').send({ name: 'x' }), 401);
    expectProblem(await t.http.get(`/v1/my/projects/${id}`), 401);
    expectProblem(await t.http.patch(`/v1/my/projects/${id}`).send({ name: 'x' }), 401);
    expectProblem(await t.http.delete(`/v1/my/projects/${id}`), 401);
  });
});
