import { randomUUID } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import { ProjectLifecycleHooks } from '@codelab/projects';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';

describe('agents (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let projectId: string;

  beforeAll(async () => {
    t = await createTestApp();
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
    projectId = (
      await t.http.post('/v1/my/projects').set(alice.auth).send({ name: 'Agents' }).expect(201)
    ).body.id;
  });
  afterAll(async () => {
    await t.close();
  });

  const agentsUrl = (pid = projectId) => `/v1/my/projects/${pid}/agents`;

  it('gives every new project its starter pack', async () => {
    const res = await t.http.get(agentsUrl()).set(alice.auth).expect(200);
    expect(res.body.items.map((a: { name: string; role: string }) => [a.name, a.role])).toEqual([
      ['CodeAssistant', 'coder'],
      ['DataAnalyst', 'analyst'],
      ['DocumentWriter', 'writer'],
    ]);
    const writer = res.body.items[2];
    expect(writer).toMatchObject({
      project_id: projectId,
      status: 'ready',
      write_paths: ['**/*.md'],
      concurrency_limit: 2,
      model: 'offline',
      memory_enabled: true,
    });
  });

  it('creates the project and its starter pack atomically: a failing part leaves no project', async () => {
    const hooks = t.app.get(ProjectLifecycleHooks);
    hooks.onCreate(async (_tx, project) => {
      if (project.name === 'doomed') throw new Error('starter pack failed');
    });
    const res = await t.http.post('/v1/my/projects').set(alice.auth).send({ name: 'doomed' });
    expect(res.status).toBe(500);
    const orm = t.app.get(MikroORM);
    const [{ n }] = await orm.em
      .getConnection()
      .execute<{ n: number }[]>("select count(*)::int as n from projects where name = 'doomed'");
    const [{ a }] = await orm.em
      .getConnection()
      .execute<{ a: number }[]>(
        'select count(*)::int as a from agents a left join projects p on p.id = a.project_id where p.id is null',
      );
    expect(n).toBe(0);
    expect(a).toBe(0);
  });

  it('lists the role templates', async () => {
    const res = await t.http.get('/v1/agent-templates').expect(200);
    const roles = res.body.map((r: { role: string }) => r.role);
    expect(roles).toEqual(
      expect.arrayContaining(['coder', 'architect', 'debug', 'ask', 'analyst', 'writer']),
    );
    const architect = res.body.find((r: { role: string }) => r.role === 'architect');
    expect(architect.write_paths).toEqual(['**/*.md']);
    expect(res.body.find((r: { role: string }) => r.role === 'ask').tools).toEqual([
      'switch_agent',
    ]);
  });

  it('creates an agent from a template, explicit fields overriding', async () => {
    const res = await t.http
      .post(agentsUrl())
      .set(alice.auth)
      .send({ name: 'Investigator', role: 'debug', temperature: 0.7, concurrency_limit: 4 })
      .expect(201);
    expect(res.body).toMatchObject({
      name: 'Investigator',
      role: 'debug',
      temperature: 0.7,
      concurrency_limit: 4,
      write_paths: [],
      tools: expect.arrayContaining(['read_file', 'list_files']),
    });
    expect(res.body.tools).not.toContain('write_file');
    expect(res.body.system_prompt).toMatch(/debugging/);

    const got = await t.http.get(`${agentsUrl()}/${res.body.id}`).set(alice.auth).expect(200);
    expect(got.body).toEqual(res.body);
  });

  it('edits any writable field with PATCH', async () => {
    const created = (
      await t.http
        .post(agentsUrl())
        .set(alice.auth)
        .send({ name: 'Editable', role: 'ask' })
        .expect(201)
    ).body;
    const res = await t.http
      .patch(`${agentsUrl()}/${created.id}`)
      .set(alice.auth)
      .send({
        name: 'Edited',
        system_prompt: 'Be brief.',
        model: 'gpt-4o-mini',
        temperature: 0,
        tools: ['read_file', 'write_file'],
        write_paths: ['notes/**/*.txt'],
        approval_tools: [],
        concurrency_limit: 32,
        memory_enabled: false,
        memory_top_k: 3,
      })
      .expect(200);
    expect(res.body).toMatchObject({
      name: 'Edited',
      system_prompt: 'Be brief.',
      model: 'gpt-4o-mini',
      temperature: 0,
      tools: ['read_file', 'write_file'],
      write_paths: ['notes/**/*.txt'],
      approval_tools: [],
      concurrency_limit: 32,
      memory_enabled: false,
      memory_top_k: 3,
    });
  });

  it('answers a duplicate name with 409, on create and on rename', async () => {
    expectProblem(
      await t.http.post(agentsUrl()).set(alice.auth).send({ name: 'CodeAssistant' }),
      409,
      'AGENT_NAME_TAKEN',
    );
    const other = (
      await t.http.post(agentsUrl()).set(alice.auth).send({ name: 'Renamer' }).expect(201)
    ).body;
    expectProblem(
      await t.http
        .patch(`${agentsUrl()}/${other.id}`)
        .set(alice.auth)
        .send({ name: 'DataAnalyst' }),
      409,
      'AGENT_NAME_TAKEN',
    );
    // The same name in another project is fine.
    const p2 = (
      await t.http.post('/v1/my/projects').set(alice.auth).send({ name: 'Second' }).expect(201)
    ).body.id;
    await t.http.post(agentsUrl(p2)).set(alice.auth).send({ name: 'Renamer' }).expect(201);
  });

  it('refuses mass assignment of owner_id, project_id and status with 400', async () => {
    const agent = (await t.http.get(agentsUrl()).set(alice.auth)).body.items[0];
    for (const body of [
      { owner_id: bob.id },
      { project_id: randomUUID() },
      { status: 'busy' },
      { id: randomUUID() },
    ]) {
      const problem = expectProblem(
        await t.http.patch(`${agentsUrl()}/${agent.id}`).set(alice.auth).send(body),
        400,
        'VALIDATION_FAILED',
      );
      expect(JSON.stringify(problem.errors)).toContain(Object.keys(body)[0]);
      expectProblem(
        await t.http
          .post(agentsUrl())
          .set(alice.auth)
          .send({ name: 'X', ...body }),
        400,
        'VALIDATION_FAILED',
      );
    }
    const unchanged = await t.http.get(`${agentsUrl()}/${agent.id}`).set(alice.auth).expect(200);
    expect(unchanged.body.status).toBe('ready');
  });

  it('validates every field', async () => {
    const bad = [
      { name: '' },
      { name: '../evil' },
      { name: 'x'.repeat(101) },
      { name: 'ok', role: 'wizard' },
      { name: 'ok', system_prompt: 'x'.repeat(20_001) },
      { name: 'ok', temperature: 2.5 },
      { name: 'ok', temperature: -0.1 },
      { name: 'ok', temperature: '1' },
      { name: 'ok', tools: ['read_file', 'format_disk'] },
      { name: 'ok', tools: 'read_file' },
      { name: 'ok', write_paths: ['../outside/**'] },
      { name: 'ok', write_paths: ['/etc/**'] },
      { name: 'ok', write_paths: ['docs/../../x'] },
      { name: 'ok', concurrency_limit: 0 },
      { name: 'ok', concurrency_limit: 33 },
      { name: 'ok', concurrency_limit: 1.5 },
      { name: 'ok', memory_top_k: 0 },
      { name: 'ok', model: null },
    ];
    for (const body of bad) {
      const res = await t.http.post(agentsUrl()).set(alice.auth).send(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
  });

  describe("another user's agents", () => {
    it('are a 404 on every agent and memory route, like missing ones', async () => {
      const agent = (await t.http.get(agentsUrl()).set(alice.auth)).body.items[0];
      const bobProject = (
        await t.http.post('/v1/my/projects').set(bob.auth).send({ name: 'Bob' }).expect(201)
      ).body.id;
      const memoryId = randomUUID();
      const attempts = [
        // Through Alice's project id...
        () => t.http.get(agentsUrl()).set(bob.auth),
        () => t.http.post(agentsUrl()).set(bob.auth).send({ name: 'Intruder' }),
        () => t.http.get(`${agentsUrl()}/${agent.id}`).set(bob.auth),
        () => t.http.patch(`${agentsUrl()}/${agent.id}`).set(bob.auth).send({ name: 'Mine' }),
        () => t.http.delete(`${agentsUrl()}/${agent.id}`).set(bob.auth),
        () => t.http.get(`${agentsUrl()}/${agent.id}/memory`).set(bob.auth),
        () => t.http.get(`${agentsUrl()}/${agent.id}/memory`).query({ q: 'secret' }).set(bob.auth),
        () => t.http.delete(`${agentsUrl()}/${agent.id}/memory/${memoryId}`).set(bob.auth),
        // ...and through Bob's own project with Alice's agent id.
        () => t.http.get(`${agentsUrl(bobProject)}/${agent.id}`).set(bob.auth),
        () =>
          t.http
            .patch(`${agentsUrl(bobProject)}/${agent.id}`)
            .set(bob.auth)
            .send({ name: 'Mine' }),
        () => t.http.delete(`${agentsUrl(bobProject)}/${agent.id}`).set(bob.auth),
        () => t.http.get(`${agentsUrl(bobProject)}/${agent.id}/memory`).set(bob.auth),
        () =>
          t.http.delete(`${agentsUrl(bobProject)}/${agent.id}/memory/${memoryId}`).set(bob.auth),
      ];
      for (const attempt of attempts) expectProblem(await attempt(), 404, 'NOT_FOUND');
      const still = await t.http.get(`${agentsUrl()}/${agent.id}`).set(alice.auth).expect(200);
      expect(still.body.name).toBe(agent.name);
    });
  });

  it('rejects bad ids with 400', async () => {
    expectProblem(
      await t.http.get(`${agentsUrl()}/nope`).set(alice.auth),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await t.http.get('/v1/my/projects/nope/agents').set(alice.auth),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('deletes an agent', async () => {
    const agent = (
      await t.http.post(agentsUrl()).set(alice.auth).send({ name: 'Temp' }).expect(201)
    ).body;
    await t.http.delete(`${agentsUrl()}/${agent.id}`).set(alice.auth).expect(204);
    expectProblem(await t.http.get(`${agentsUrl()}/${agent.id}`).set(alice.auth), 404);
  });

  it('deleting the project deletes its agents', async () => {
    const pid = (
      await t.http.post('/v1/my/projects').set(alice.auth).send({ name: 'Short-lived' }).expect(201)
    ).body.id;
    await t.http.delete(`/v1/my/projects/${pid}`).set(alice.auth).expect(204);
    const orm = t.app.get(MikroORM);
    const [{ n }] = await orm.em
      .getConnection()
      .execute<{ n: number }[]>('select count(*)::int as n from agents where project_id = ?', [
        pid,
      ]);
    expect(n).toBe(0);
  });
});
