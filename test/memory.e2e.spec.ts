import { waitFor } from './support/child-process';
import { MikroORM } from '@mikro-orm/postgresql';
import { type MemoryAgent, MemoryService } from '@codelab/memory';
import fixture from './fixtures/memory-recall.json';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';

describe('agent memory (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let projectId: string;
  let coder: { id: string };
  let analyst: { id: string };
  let memory: MemoryService;

  const asMemoryAgent = (agentId: string, overrides: Partial<MemoryAgent> = {}): MemoryAgent => ({
    ownerId: alice.id,
    agentId,
    projectId,
    memoryEnabled: true,
    memoryTopK: 3,
    ...overrides,
  });
  const memoryUrl = (agentId: string) => `/v1/my/projects/${projectId}/agents/${agentId}/memory`;

  beforeAll(async () => {
    // With the worker: memory is forgotten by the agent.deleted / project.deleted handlers.
    t = await createTestApp({ env: { APP_ROLE: 'all' } });
    alice = await registerUser(t.http);
    projectId = (
      await t.http.post('/v1/my/projects').set(alice.auth).send({ name: 'Memory' }).expect(201)
    ).body.id;
    const agents = (
      await t.http.get(`/v1/my/projects/${projectId}/agents`).set(alice.auth).expect(200)
    ).body.items;
    [coder, analyst] = agents;
    memory = t.app.get(MemoryService);
    for (const fact of fixture.facts)
      await memory.storeFact(asMemoryAgent(coder.id), fact.text, { fixture_id: fact.id });
  });
  afterAll(async () => {
    await t.close();
  });

  it('recall() ranks the relevant fact first for every fixture query (hits@1 through PostgreSQL)', async () => {
    const misses: string[] = [];
    for (const q of fixture.queries) {
      const [top] = await memory.recall(asMemoryAgent(coder.id), q.text, 1);
      if (top?.metadata.fixture_id !== q.expect) misses.push(q.text);
    }
    expect(misses).toEqual([]);
  });

  it('recall() returns nothing when the agent has memory turned off, or for another agent', async () => {
    expect(
      await memory.recall(asMemoryAgent(coder.id, { memoryEnabled: false }), 'production database'),
    ).toEqual([]);
    expect(
      await memory.recall(asMemoryAgent(analyst.id), 'production database PostgreSQL'),
    ).toEqual([]);
  });

  it('remember() stores an interaction that recall() then finds', async () => {
    const id = await memory.remember(asMemoryAgent(analyst.id), {
      userMessage: 'Which CSV holds the churn numbers?',
      assistantMessage: 'The churn numbers are in data/churn-2026.csv.',
      metadata: { run_id: 'r-1' },
    });
    expect(id).toEqual(expect.any(String));
    const [hit] = await memory.recall(asMemoryAgent(analyst.id), 'where are the churn numbers');
    expect(hit.content).toContain('data/churn-2026.csv');
    expect(hit.metadata).toMatchObject({ kind: 'interaction', run_id: 'r-1' });
  });

  it('GET .../memory lists newest first with keyset pages', async () => {
    const first = await t.http
      .get(memoryUrl(coder.id))
      .query({ limit: 10 })
      .set(alice.auth)
      .expect(200);
    expect(first.body.items).toHaveLength(10);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await t.http
      .get(memoryUrl(coder.id))
      .query({ limit: 10, cursor: first.body.next_cursor })
      .set(alice.auth)
      .expect(200);
    expect(second.body.items).toHaveLength(fixture.facts.length - 10);
    expect(second.body.next_cursor).toBeNull();
    const ids = [...first.body.items, ...second.body.items].map((m: { id: string }) => m.id);
    expect(new Set(ids).size).toBe(fixture.facts.length);
  });

  it('GET .../memory?q= is a semantic search with scores', async () => {
    const res = await t.http
      .get(memoryUrl(coder.id))
      .query({ q: 'office dog name', limit: 3 })
      .set(alice.auth)
      .expect(200);
    expect(res.body.items).toHaveLength(3);
    expect(res.body.items[0].content).toContain('Biscuit');
    expect(res.body.items[0].score).toBeGreaterThan(res.body.items[1].score);
    // Only this agent's memory: the analyst has its own.
    const other = await t.http
      .get(memoryUrl(analyst.id))
      .query({ q: 'office dog name' })
      .set(alice.auth)
      .expect(200);
    expect(other.body.items.map((m: { content: string }) => m.content).join()).not.toContain(
      'Biscuit',
    );
  });

  it('DELETE .../memory/{id} forgets one item; a second delete is 404', async () => {
    const [victim] = (
      await t.http.get(memoryUrl(coder.id)).query({ q: 'cloud budget' }).set(alice.auth)
    ).body.items;
    await t.http
      .delete(`${memoryUrl(coder.id)}/${victim.id}`)
      .set(alice.auth)
      .expect(204);
    expectProblem(await t.http.delete(`${memoryUrl(coder.id)}/${victim.id}`).set(alice.auth), 404);
    // Another agent's memory id through this agent's route: not found.
    const [analystItem] = (await t.http.get(memoryUrl(analyst.id)).set(alice.auth)).body.items;
    expectProblem(
      await t.http.delete(`${memoryUrl(coder.id)}/${analystItem.id}`).set(alice.auth),
      404,
    );
  });

  it('validates the query', async () => {
    expectProblem(await t.http.get(memoryUrl(coder.id)).query({ q: '' }).set(alice.auth), 400);
    expectProblem(await t.http.get(memoryUrl(coder.id)).query({ limit: 500 }).set(alice.auth), 400);
    expectProblem(await t.http.delete(`${memoryUrl(coder.id)}/not-a-uuid`).set(alice.auth), 400);
  });

  it('deleting an agent forgets its memory; deleting the project forgets the rest (durable events)', async () => {
    const count = async (agentId: string) => {
      const [{ n }] = await t.app
        .get(MikroORM)
        .em.getConnection()
        .execute<{ n: number }[]>(
          'select count(*)::int as n from agent_memories where agent_id = ?',
          [agentId],
        );
      return n;
    };
    expect(await count(coder.id)).toBeGreaterThan(0);
    await t.http
      .delete(`/v1/my/projects/${projectId}/agents/${coder.id}`)
      .set(alice.auth)
      .expect(204);
    await waitFor(
      'the agent memory to be forgotten',
      async () => (await count(coder.id)) === 0,
      10_000,
    );

    expect(await count(analyst.id)).toBeGreaterThan(0);
    await t.http.delete(`/v1/my/projects/${projectId}`).set(alice.auth).expect(204);
    await waitFor(
      'the project memory to be forgotten',
      async () => (await count(analyst.id)) === 0,
      10_000,
    );
  });
});
