import { randomUUID } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import { IdempotencyCleanup } from '@codelab/sessions';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';
import { waitFor } from './support/child-process';

describe('sessions, messages and runs (e2e, API + in-process worker)', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let projectId: string;
  const base = () => `/v1/my/projects/${projectId}/sessions`;

  beforeAll(async () => {
    t = await createTestApp({
      env: { APP_ROLE: 'all', OFFLINE_LLM_TOKEN_DELAY_MS: '15', RUN_RELAY_INTERVAL_MS: '300' },
    });
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
    projectId = await createProject(t.http, alice);
  });
  afterAll(async () => {
    await t.close();
  });

  describe('sessions', () => {
    it('creates with the first agent as current, lists newest first, renames, archives', async () => {
      const agents = (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(alice.auth)).body
        .items;
      const created = (
        await t.http.post(base()).set(alice.auth).send({ title: 'First' }).expect(201)
      ).body;
      expect(created).toMatchObject({
        title: 'First',
        current_agent_id: agents[0].id,
        message_count: 0,
        archived_at: null,
      });
      const second = (
        await t.http.post(base()).set(alice.auth).send({ agent: 'DocumentWriter' }).expect(201)
      ).body;
      expect(second).toMatchObject({ title: 'New session', current_agent_id: agents[2].id });
      expectProblem(
        await t.http.post(base()).set(alice.auth).send({ agent: 'Nobody' }),
        422,
        'UNKNOWN_AGENT',
      );

      const listed = (await t.http.get(base()).set(alice.auth).expect(200)).body.items as {
        id: string;
        created_at: string;
      }[];
      expect(listed.map((x) => x.id)).toEqual(expect.arrayContaining([created.id, second.id]));
      // Newest first (ties on created_at are broken by id).
      const times = listed.map((x) => Date.parse(x.created_at));
      expect(times).toEqual([...times].sort((a, b) => b - a));

      const renamed = await t.http
        .patch(`${base()}/${created.id}`)
        .set(alice.auth)
        .send({ title: 'Renamed' })
        .expect(200);
      expect(renamed.body.title).toBe('Renamed');
      expectProblem(
        await t.http.patch(`${base()}/${created.id}`).set(alice.auth).send({ title: '' }),
        400,
      );

      await t.http.delete(`${base()}/${created.id}`).set(alice.auth).expect(204);
      const archived = await t.http.get(`${base()}/${created.id}`).set(alice.auth).expect(200);
      expect(archived.body.archived_at).toEqual(expect.any(String));
      const after = (await t.http.get(base()).set(alice.auth)).body.items.map(
        (s: { id: string }) => s.id,
      );
      expect(after).not.toContain(created.id);
      expectProblem(
        await t.http
          .post(`${base()}/${created.id}/messages`)
          .set(alice.auth)
          .send({ content: 'hello?' }),
        409,
        'SESSION_ARCHIVED',
      );
    });
  });

  describe('a direct call', () => {
    it('answers 202 {message, run}, then completes with user and assistant messages in order', async () => {
      const sid = await createSession(t.http, alice, projectId);
      const accepted = await sendMessage(t.http, alice, projectId, sid, {
        content: 'How do I rotate the logs?',
      });
      expect(accepted.message).toMatchObject({
        seq: 1,
        role: 'user',
        content: 'How do I rotate the logs?',
        agent_name: 'CodeAssistant',
      });
      expect(accepted.run).toMatchObject({
        status: 'queued',
        mode: 'direct',
        input_message_id: accepted.message.id,
      });

      const run = await waitForRun(t.http, alice, projectId, sid, accepted.run.id);
      expect(run.status).toBe('completed');
      expect(run.usage?.output_tokens).toBeGreaterThan(0);
      expect(Date.parse(run.started_at ?? '')).toBeGreaterThanOrEqual(Date.parse(run.created_at));
      expect(Date.parse(run.finished_at ?? '')).toBeGreaterThanOrEqual(
        Date.parse(run.started_at ?? ''),
      );

      const messages = (await t.http.get(`${base()}/${sid}/messages`).set(alice.auth).expect(200))
        .body;
      expect(messages.items.map((m: { seq: number; role: string }) => [m.seq, m.role])).toEqual([
        [1, 'user'],
        [2, 'assistant'],
      ]);
      expect(messages.items[1]).toMatchObject({
        run_id: run.id,
        agent_name: 'CodeAssistant',
        id: run.output_message_id,
      });
      expect(messages.items[1].content).toContain('[offline model]');
      expect(messages.items[1].content).toContain('How do I rotate the logs?');
    });

    it('goes to target_agent by name or id, and answers 422 for an agent not in this project', async () => {
      const sid = await createSession(t.http, alice, projectId);
      const byName = await sendMessage(t.http, alice, projectId, sid, {
        content: 'Write docs',
        target_agent: 'DocumentWriter',
      });
      expect(byName.run).toMatchObject({ agent_name: 'DocumentWriter' });
      const byId = await sendMessage(t.http, alice, projectId, sid, {
        content: 'Again',
        target_agent: byName.run.agent_id,
      });
      expect(byId.run.agent_id).toBe(byName.run.agent_id);
      const bobProject = await createProject(t.http, bob);
      const bobAgent = (await t.http.get(`/v1/my/projects/${bobProject}/agents`).set(bob.auth)).body
        .items[0];
      expectProblem(
        await t.http
          .post(`${base()}/${sid}/messages`)
          .set(alice.auth)
          .send({ content: 'x', target_agent: bobAgent.id }),
        422,
        'UNKNOWN_AGENT',
      );
      expectProblem(
        await t.http
          .post(`${base()}/${sid}/messages`)
          .set(alice.auth)
          .send({ content: 'x', target_agent: 'Ghost' }),
        422,
      );
      await waitForRun(t.http, alice, projectId, sid, byId.run.id);
    });

    it('remembers the interaction in the agent memory', async () => {
      const sid = await createSession(t.http, alice, projectId, { agent: 'DataAnalyst' });
      const { run } = await sendMessage(t.http, alice, projectId, sid, {
        content: 'The churn report lives in data/churn.csv',
      });
      await waitForRun(t.http, alice, projectId, sid, run.id);
      const mem = await t.http
        .get(`/v1/my/projects/${projectId}/agents/${run.agent_id}/memory`)
        .query({ q: 'where is the churn report' })
        .set(alice.auth)
        .expect(200);
      expect(mem.body.items[0].content).toContain('data/churn.csv');
      expect(mem.body.items[0].metadata).toMatchObject({ run_id: run.id });
    });
  });

  describe('validation', () => {
    it('refuses empty, whitespace-only, oversized and mistyped content', async () => {
      const sid = await createSession(t.http, alice, projectId);
      for (const body of [
        {},
        { content: '' },
        { content: '   \n\t ' },
        { content: 'x'.repeat(32_001) },
        { content: 42 },
        { content: 'ok', extra: 1 },
      ]) {
        expectProblem(
          await t.http.post(`${base()}/${sid}/messages`).set(alice.auth).send(body),
          400,
          'VALIDATION_FAILED',
        );
      }
      await sendMessage(t.http, alice, projectId, sid, { content: 'x'.repeat(32_000) });
      expectProblem(
        await t.http
          .post(`${base()}/${sid}/messages`)
          .set(alice.auth)
          .set('Idempotency-Key', 'bad key!')
          .send({ content: 'x' }),
        400,
      );
      for (const q of [
        { limit: 0 },
        { limit: 101 },
        { before: 0 },
        { after: -1 },
        { after: 'x' },
      ]) {
        expectProblem(await t.http.get(`${base()}/${sid}/messages`).query(q).set(alice.auth), 400);
      }
    });
  });

  describe('idempotency', () => {
    it('5 concurrent identical POSTs with one key create one message and one run', async () => {
      const sid = await createSession(t.http, alice, projectId);
      const key = `key-${randomUUID()}`;
      const responses = await Promise.all(
        Array.from({ length: 5 }, () =>
          t.http
            .post(`${base()}/${sid}/messages`)
            .set(alice.auth)
            .set('Idempotency-Key', key)
            .send({ content: 'only once' }),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
      const distinct = [...new Set(responses.map((r) => JSON.stringify(r.body)))];
      expect(distinct).toEqual([distinct[0]]);
      await waitForRun(t.http, alice, projectId, sid, responses[0].body.run.id);
      const messages = (await t.http.get(`${base()}/${sid}/messages`).set(alice.auth)).body.items;
      expect(messages.filter((m: { role: string }) => m.role === 'user')).toHaveLength(1);
      const runs = (await t.http.get(`${base()}/${sid}/runs`).set(alice.auth)).body.items;
      expect(runs).toHaveLength(1);

      // Replayed later: still the same answer.
      const again = await t.http
        .post(`${base()}/${sid}/messages`)
        .set(alice.auth)
        .set('Idempotency-Key', key)
        .send({ content: 'only once' });
      expect(again.status).toBe(202);
      expect(again.body).toEqual(responses[0].body);
      // Same key, different body: refused, nothing created.
      expectProblem(
        await t.http
          .post(`${base()}/${sid}/messages`)
          .set(alice.auth)
          .set('Idempotency-Key', key)
          .send({ content: 'something else' }),
        422,
        'IDEMPOTENCY_KEY_REUSED',
      );
      expect((await t.http.get(`${base()}/${sid}/runs`).set(alice.auth)).body.items).toHaveLength(
        1,
      );
    });

    it('forgets a key after IDEMPOTENCY_TTL_HOURS: expired records count as absent and are swept', async () => {
      const sid = await createSession(t.http, alice, projectId);
      const key = `key-${randomUUID()}`;
      const post = (content: string) =>
        t.http
          .post(`${base()}/${sid}/messages`)
          .set(alice.auth)
          .set('Idempotency-Key', key)
          .send({ content });
      const first = await post('first use');
      expect(first.status).toBe(202);
      const [{ ttl }] = await t.app
        .get(MikroORM)
        .em.getConnection()
        .execute<{ ttl: number }[]>(
          `select round(extract(epoch from expires_at - created_at) / 3600)::int as ttl from idempotency_records where key = ?`,
          [key],
        );
      expect(ttl).toBe(24);
      // A day later (the record's clock moved back instead):
      await t.app
        .get(MikroORM)
        .em.getConnection()
        .execute(
          `update idempotency_records set expires_at = now() - interval '1 second' where key = ?`,
          [key],
        );
      const reused = await post('a new request with the old key');
      expect(reused.status).toBe(202);
      expect(reused.body.run.id).not.toBe(first.body.run.id);

      // The sweep deletes what expired (the reused key is live again, so it stays).
      await t.app
        .get(MikroORM)
        .em.getConnection()
        .execute(
          `insert into idempotency_records (owner_id, key, request_hash, created_at, expires_at)
           values (?, ?, 'x', now() - interval '2 days', now() - interval '1 day')`,
          [alice.id, `${key}-old`],
        );
      expect(await t.app.get(IdempotencyCleanup).sweep()).toBeGreaterThanOrEqual(1);
      const left = await t.app
        .get(MikroORM)
        .em.getConnection()
        .execute<{ key: string }[]>(`select key from idempotency_records where key like ?`, [
          `${key}%`,
        ]);
      expect(left.map((r) => r.key)).toEqual([key]);
    });
  });

  describe('message pagination', () => {
    let sid: string;
    beforeAll(async () => {
      sid = await createSession(t.http, alice, projectId);
      // 120 messages written directly: pagination is about reading.
      const conn = t.app.get(MikroORM).em.getConnection();
      await conn.execute(
        `insert into messages (id, session_id, seq, role, content, metadata, created_at)
         select gen_random_uuid(), ?, g, 'user', 'message ' || g, '{}'::jsonb, now() from generate_series(1, 120) g`,
        [sid],
      );
      await conn.execute('update chat_sessions set last_seq = 120 where id = ?', [sid]);
    });

    const page = async (query: Record<string, number>) =>
      (await t.http.get(`${base()}/${sid}/messages`).query(query).set(alice.auth).expect(200))
        .body as {
        items: { seq: number }[];
        has_more: boolean;
      };

    it('walks forward with ?after= and backward with ?before=, ascending, without gaps or repeats', async () => {
      const forward: number[] = [];
      let after = 0;
      for (;;) {
        const p = await page({ after, limit: 50 });
        forward.push(...p.items.map((m) => m.seq));
        if (!p.has_more) break;
        after = p.items.at(-1)?.seq ?? after;
      }
      expect(forward).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));

      const newest = await page({ limit: 50 });
      expect(newest.items.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 71));
      expect(newest.has_more).toBe(true);
      const backward: number[] = [...newest.items.map((m) => m.seq)];
      let before = newest.items[0].seq;
      for (;;) {
        const p = await page({ before, limit: 50 });
        backward.unshift(...p.items.map((m) => m.seq));
        if (!p.has_more) break;
        before = p.items[0].seq;
      }
      expect(backward).toEqual(forward);
    });

    it('stays stable while new messages arrive', async () => {
      const first = await page({ after: 0, limit: 40 });
      // New messages land at the end while the client pages forward.
      await Promise.all(
        Array.from({ length: 3 }, (_, i) =>
          sendMessage(t.http, alice, projectId, sid, { content: `late ${i}` }),
        ),
      );
      const second = await page({ after: 40, limit: 40 });
      expect(second.items.map((m) => m.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 41));
      const olderPage = await page({ before: 41, limit: 40 });
      expect(olderPage.items.map((m) => m.seq)).toEqual(first.items.map((m) => m.seq));
    });
  });

  describe('cancel', () => {
    it('cancels a queued run at once, a running one cooperatively, and refuses a finished one', async () => {
      const sid = await createSession(t.http, alice, projectId);
      // The first run takes about a second (15 ms per token); the second waits behind it.
      const first = await sendMessage(t.http, alice, projectId, sid, {
        content: 'word '.repeat(40),
      });
      const second = await sendMessage(t.http, alice, projectId, sid, { content: 'second' });

      const queued = await t.http
        .post(`${base()}/${sid}/runs/${second.run.id}/cancel`)
        .set(alice.auth)
        .expect(202);
      expect(queued.body.status).toBe('cancelled');

      await waitForRun(t.http, alice, projectId, sid, first.run.id, ['running']);
      await t.http.post(`${base()}/${sid}/runs/${first.run.id}/cancel`).set(alice.auth).expect(202);
      const stopped = await waitForRun(
        t.http,
        alice,
        projectId,
        sid,
        first.run.id,
        ['cancelled', 'completed'],
        5_000,
      );
      expect(stopped.status).toBe('cancelled');
      expect(stopped.output_message_id).toBeNull();
      const messages = (await t.http.get(`${base()}/${sid}/messages`).set(alice.auth)).body.items;
      expect(messages.map((m: { role: string }) => m.role)).toEqual(['user', 'user']);

      expectProblem(
        await t.http.post(`${base()}/${sid}/runs/${first.run.id}/cancel`).set(alice.auth),
        409,
        'RUN_ALREADY_FINISHED',
      );
      expectProblem(
        await t.http.post(`${base()}/${sid}/runs/${second.run.id}/cancel`).set(alice.auth),
        409,
        'RUN_ALREADY_FINISHED',
      );

      // The session keeps working after cancellations.
      const third = await sendMessage(t.http, alice, projectId, sid, { content: 'still there?' });
      expect((await waitForRun(t.http, alice, projectId, sid, third.run.id)).status).toBe(
        'completed',
      );
    });
  });

  describe("another user's sessions", () => {
    it('are a 404 on every session, message and run route', async () => {
      const sid = await createSession(t.http, alice, projectId);
      const { run } = await sendMessage(t.http, alice, projectId, sid, { content: 'private' });
      const bobProject = await createProject(t.http, bob);
      const routes = [
        () => t.http.get(base()).set(bob.auth),
        () => t.http.post(base()).set(bob.auth).send({}),
        () => t.http.get(`${base()}/${sid}`).set(bob.auth),
        () => t.http.patch(`${base()}/${sid}`).set(bob.auth).send({ title: 'mine' }),
        () => t.http.delete(`${base()}/${sid}`).set(bob.auth),
        () => t.http.get(`${base()}/${sid}/messages`).set(bob.auth),
        () => t.http.post(`${base()}/${sid}/messages`).set(bob.auth).send({ content: 'hi' }),
        () => t.http.get(`${base()}/${sid}/runs`).set(bob.auth),
        () => t.http.get(`${base()}/${sid}/runs/${run.id}`).set(bob.auth),
        () => t.http.post(`${base()}/${sid}/runs/${run.id}/cancel`).set(bob.auth),
        // Bob's own project, Alice's ids.
        () => t.http.get(`/v1/my/projects/${bobProject}/sessions/${sid}`).set(bob.auth),
        () => t.http.get(`/v1/my/projects/${bobProject}/sessions/${sid}/messages`).set(bob.auth),
        () =>
          t.http
            .post(`/v1/my/projects/${bobProject}/sessions/${sid}/messages`)
            .set(bob.auth)
            .send({ content: 'hi' }),
        () =>
          t.http.get(`/v1/my/projects/${bobProject}/sessions/${sid}/runs/${run.id}`).set(bob.auth),
        () =>
          t.http
            .post(`/v1/my/projects/${bobProject}/sessions/${sid}/runs/${run.id}/cancel`)
            .set(bob.auth),
      ];
      for (const route of routes) expectProblem(await route(), 404, 'NOT_FOUND');
      const missing = randomUUID();
      expectProblem(await t.http.get(`${base()}/${missing}`).set(alice.auth), 404);
      expectProblem(await t.http.get(`${base()}/${sid}/runs/${missing}`).set(alice.auth), 404);
      // Nothing of Alice's changed.
      const messages = (await t.http.get(`${base()}/${sid}/messages`).set(alice.auth)).body.items;
      expect(messages.filter((m: { role: string }) => m.role === 'user')).toHaveLength(1);
    });
  });

  it("keeps a session readable after its agent is deleted, with the agent's name on its messages", async () => {
    const created = (
      await t.http
        .post(`/v1/my/projects/${projectId}/agents`)
        .set(alice.auth)
        .send({ name: 'Ephemeral' })
        .expect(201)
    ).body;
    const sid = await createSession(t.http, alice, projectId, { agent: 'Ephemeral' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, { content: 'remember me' });
    await waitForRun(t.http, alice, projectId, sid, run.id);
    await t.http
      .delete(`/v1/my/projects/${projectId}/agents/${created.id}`)
      .set(alice.auth)
      .expect(204);
    const messages = (await t.http.get(`${base()}/${sid}/messages`).set(alice.auth).expect(200))
      .body.items;
    expect(
      messages.map((m: { role: string; agent_name: string }) => [m.role, m.agent_name]),
    ).toEqual([
      ['user', 'Ephemeral'],
      ['assistant', 'Ephemeral'],
    ]);
    expect(
      (await t.http.get(`${base()}/${sid}/runs/${run.id}`).set(alice.auth).expect(200)).body
        .agent_name,
    ).toBe('Ephemeral');
    // New messages fall back to the project's first agent.
    const next = await sendMessage(t.http, alice, projectId, sid, { content: 'anyone?' });
    expect(next.run.agent_name).toBe('CodeAssistant');
  });

  /** A session whose lane is held by a parked run (test_park), so later runs stay queued. */
  const heldSession = async () => {
    const agents = (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(alice.auth)).body
      .items as { id: string; name: string; tools: string[] }[];
    const holder = agents.find((a) => a.name === 'CodeAssistant')!;
    if (!holder.tools.includes('test_park'))
      await t.http
        .patch(`/v1/my/projects/${projectId}/agents/${holder.id}`)
        .set(alice.auth)
        .send({ tools: [...holder.tools, 'test_park'] })
        .expect(200);
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: 'hold the lane\n/tool test_park {}',
    });
    await waitForRun(t.http, alice, projectId, sid, run.id, ['awaiting_approval']);
    return { sid, holder: run };
  };

  it("cancels a deleted agent's queued runs (durable agent.deleted handler), with the reason", async () => {
    const doomed = (
      await t.http
        .post(`/v1/my/projects/${projectId}/agents`)
        .set(alice.auth)
        .send({ name: 'Doomed' })
        .expect(201)
    ).body;
    const { sid, holder } = await heldSession();
    const second = await sendMessage(t.http, alice, projectId, sid, {
      content: 'for the doomed agent',
      target_agent: 'Doomed',
    });
    expect(second.run.status).toBe('queued');
    await t.http
      .delete(`/v1/my/projects/${projectId}/agents/${doomed.id}`)
      .set(alice.auth)
      .expect(204);
    const cancelled = await waitForRun(t.http, alice, projectId, sid, second.run.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.error).toEqual({ code: 'AGENT_DELETED', message: expect.any(String) });
    // The parked holder is untouched: not this agent's.
    expect(
      (await waitForRun(t.http, alice, projectId, sid, holder.id, ['awaiting_approval'])).status,
    ).toBe('awaiting_approval');
    await t.http.post(`${base()}/${sid}/runs/${holder.id}/cancel`).set(alice.auth).expect(202);
  });

  it('fails a run whose agent vanished before it started, with a visible error', async () => {
    const gone = (
      await t.http
        .post(`/v1/my/projects/${projectId}/agents`)
        .set(alice.auth)
        .send({ name: 'Gone' })
        .expect(201)
    ).body;
    const { sid, holder } = await heldSession();
    const second = await sendMessage(t.http, alice, projectId, sid, {
      content: 'for the vanished agent',
      target_agent: 'Gone',
    });
    // Removed behind the API's back (no agent.deleted event): the run finds out when it starts.
    await t.app
      .get(MikroORM)
      .em.getConnection()
      .execute('delete from agents where id = ?', [gone.id]);
    const cancelledHolder = await t.http
      .post(`${base()}/${sid}/runs/${holder.id}/cancel`)
      .set(alice.auth)
      .expect(202);
    expect(cancelledHolder.body.status).toBe('cancelled');
    const failed = await waitForRun(t.http, alice, projectId, sid, second.run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toEqual({ code: 'AGENT_NOT_FOUND', message: expect.any(String) });
  });

  it('marks the agent busy while it runs and ready afterwards', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'DataAnalyst' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: 'long '.repeat(60),
    });
    const agentUrl = `/v1/my/projects/${projectId}/agents/${run.agent_id}`;
    await waitFor(
      'the agent to be busy',
      async () => (await t.http.get(agentUrl).set(alice.auth)).body.status === 'busy',
      10_000,
    );
    await waitForRun(t.http, alice, projectId, sid, run.id);
    await waitFor(
      'the agent to be ready',
      async () => (await t.http.get(agentUrl).set(alice.auth)).body.status === 'ready',
      10_000,
    );
  });
});
