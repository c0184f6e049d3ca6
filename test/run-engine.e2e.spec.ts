import { MikroORM } from '@mikro-orm/postgresql';
import { CommandBus } from '@nestjs/cqrs';
import { ResumeRunCommand, RunLifecycle, RunSlots, RunStatus, StepStatus } from '@codelab/runs';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';
import {
  createProject,
  createSession,
  type RunView,
  sendMessage,
  waitForRun,
} from './support/sessions-helpers';
import { waitFor } from './support/child-process';

interface StepView {
  seq: number;
  kind: string;
  name: string;
  tool_call_id: string | null;
  args: Record<string, unknown> | null;
  args_digest: string | null;
  effect: string;
  status: string;
  result: Record<string, unknown> | null;
  usage: { input_tokens: number; output_tokens: number } | null;
  message_id: string | null;
  attempts: number;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
}

interface MessageView {
  seq: number;
  role: string;
  content: string;
  run_id: string | null;
  tool_calls: { id: string; name: string; args: Record<string, unknown> }[] | null;
  tool_call_id: string | null;
}

/** The run engine through the API: multi-step loops, the journal, parking, lanes, on_busy. */
describe('run engine v2 (e2e, API + in-process worker)', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let projectId: string;
  const base = () => `/v1/my/projects/${projectId}/sessions`;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'all', RUN_RELAY_INTERVAL_MS: '300' } });
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
    projectId = await createProject(t.http, alice, 'engine');
  });
  afterAll(async () => {
    await t.close();
  });

  const agent = async (name: string) =>
    (
      (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(alice.auth).expect(200)).body
        .items as { id: string; name: string; tools: string[]; status: string }[]
    ).find((a) => a.name === name)!;

  const configure = async (name: string, changes: Record<string, unknown>) => {
    const { id } = await agent(name);
    await t.http
      .patch(`/v1/my/projects/${projectId}/agents/${id}`)
      .set(alice.auth)
      .send(changes)
      .expect(200);
    return id;
  };

  const steps = async (sid: string, runId: string, query = '') =>
    (await t.http.get(`${base()}/${sid}/runs/${runId}/steps${query}`).set(alice.auth).expect(200))
      .body as { items: StepView[]; next_after: number | null };

  const messages = async (sid: string) =>
    (await t.http.get(`${base()}/${sid}/messages`).set(alice.auth).expect(200)).body
      .items as MessageView[];

  const sql = async <T>(query: string, params: unknown[] = []): Promise<T> =>
    (await t.app.get(MikroORM).em.getConnection().execute(query, params)) as T;

  it('loops model -> tools -> model, one message per step, and shows the journal as the trace', async () => {
    // No approvals here (the coder role asks before writes: that parks, see the next test).
    await configure('CodeAssistant', {
      tools: ['test_read', 'test_write', 'test_park', 'test_fail'],
      approval_tools: [],
    });
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: [
        'gather, then write',
        '/tool test_read {"text":"a"}',
        '/tool test_read {"text":"b"} && test_read {"text":"b"}',
        '/tool test_write {"key":"k1"}',
      ].join('\n'),
    });
    const done = await waitForRun(t.http, alice, projectId, sid, run.id);
    expect(done.status).toBe('completed');

    const trace = (await steps(sid, run.id)).items;
    expect(trace.map((s) => [s.seq, s.kind, s.name, s.status])).toEqual([
      [1, 'llm', 'offline', 'succeeded'],
      [2, 'tool', 'test_read', 'succeeded'],
      [3, 'llm', 'offline', 'succeeded'],
      [4, 'tool', 'test_read', 'succeeded'],
      [5, 'tool', 'test_read', 'succeeded'],
      [6, 'llm', 'offline', 'succeeded'],
      [7, 'tool', 'test_write', 'succeeded'],
      [8, 'llm', 'offline', 'succeeded'],
    ]);
    const [, read, , b1, b2, , write, final] = trace;
    expect(read).toMatchObject({
      effect: 'read',
      args: { text: 'a' },
      result: { output: { echo: 'a' } },
    });
    expect(write.effect).toBe('write');
    // Equal arguments, equal digest (RFC 8785 canonical JSON); different ones differ.
    expect(b1.args_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(b1.args_digest).toBe(b2.args_digest);
    expect(b1.args_digest).not.toBe(read.args_digest);
    for (const s of trace) {
      expect(s.finished_at).not.toBeNull();
      expect(s.duration_ms).toBeGreaterThanOrEqual(0);
      expect(s.attempts).toBe(1);
      if (s.kind === 'llm') expect(s.usage?.input_tokens).toBeGreaterThan(0);
    }
    expect(final.message_id).toBe(done.output_message_id);
    // The run's usage is the sum of its model turns.
    expect(done.usage?.input_tokens).toBe(
      trace.filter((s) => s.kind === 'llm').reduce((n, s) => n + (s.usage?.input_tokens ?? 0), 0),
    );

    // Each assistant turn with tool calls and each tool result is its own message, in seq order.
    const conversation = await messages(sid);
    expect(conversation.map((m) => m.role)).toEqual([
      'user',
      'assistant',
      'tool',
      'assistant',
      'tool',
      'tool',
      'assistant',
      'tool',
      'assistant',
    ]);
    expect(conversation[1].tool_calls?.map((c) => c.name)).toEqual(['test_read']);
    expect(conversation[2].tool_call_id).toBe(conversation[1].tool_calls?.[0].id);
    expect(conversation[3].tool_calls).toHaveLength(2);
    expect(conversation.at(-1)?.tool_calls).toBeNull();
    expect(conversation.at(-1)?.content).toContain('Tool test_write returned');

    // Keyset pages over the journal.
    const first = await steps(sid, run.id, '?limit=3');
    expect(first.items.map((s) => s.seq)).toEqual([1, 2, 3]);
    expect(first.next_after).toBe(3);
    const second = await steps(sid, run.id, `?limit=10&after=${first.next_after}`);
    expect(second.items.map((s) => s.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(second.next_after).toBeNull();
  });

  it('parks a call the policy wants approved (the agent asks before writes)', async () => {
    await configure('CodeAssistant', { tools: ['test_write'], approval_tools: ['test_write'] });
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: '/tool test_write {"key":"needs-approval"}',
    });
    await waitForRun(t.http, alice, projectId, sid, run.id, ['awaiting_approval']);
    const trace = (await steps(sid, run.id)).items;
    expect(trace.at(-1)).toMatchObject({
      kind: 'tool',
      name: 'test_write',
      status: 'awaiting',
      result: { reason: 'tool "test_write" requires approval' },
    });
    await t.http.post(`${base()}/${sid}/runs/${run.id}/cancel`).set(alice.auth).expect(202);
    await configure('CodeAssistant', {
      tools: ['test_read', 'test_write', 'test_park', 'test_fail'],
      approval_tools: [],
    });
  });

  it('runs the reads of one turn in parallel', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content:
        '/tool test_read {"text":"x","delay_ms":400} && test_read {"text":"y","delay_ms":400}',
    });
    expect((await waitForRun(t.http, alice, projectId, sid, run.id)).status).toBe('completed');
    const [, x, y] = (await steps(sid, run.id)).items;
    // Each started before the other finished.
    expect(Date.parse(x.started_at)).toBeLessThan(Date.parse(y.finished_at!));
    expect(Date.parse(y.started_at)).toBeLessThan(Date.parse(x.finished_at!));
  });

  it('tells the model about a failed tool call and goes on', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: '/tool test_fail {"code":"BROKEN"}',
    });
    expect((await waitForRun(t.http, alice, projectId, sid, run.id)).status).toBe('completed');
    const trace = (await steps(sid, run.id)).items;
    expect(trace[1]).toMatchObject({
      status: 'failed',
      error: { code: 'BROKEN', message: 'test_fail always fails' },
    });
    expect((await messages(sid)).at(-1)?.content).toContain('BROKEN');
  });

  it('fails a run past max_steps with a clear code', async () => {
    await configure('DataAnalyst', { tools: ['test_read'], max_steps: 2 });
    const sid = await createSession(t.http, alice, projectId, { agent: 'DataAnalyst' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content:
        '/tool test_read {"text":"1"}\n/tool test_read {"text":"2"}\n/tool test_read {"text":"3"}',
    });
    const failed = await waitForRun(t.http, alice, projectId, sid, run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('MAX_STEPS_EXCEEDED');
    expect((await steps(sid, run.id)).items.filter((s) => s.kind === 'llm')).toHaveLength(2);
  });

  describe('parked runs and lanes', () => {
    let writer: string;
    beforeAll(async () => {
      writer = await configure('DocumentWriter', {
        tools: ['test_read', 'test_park'],
        concurrency_limit: 1,
      });
    });

    const park = async (sid: string) => {
      const { run } = await sendMessage(t.http, alice, projectId, sid, {
        content: 'wait for me\n/tool test_park {"reason":"needs a human"}',
      });
      await waitForRun(t.http, alice, projectId, sid, run.id, ['awaiting_approval']);
      return run;
    };

    it('holds no slot while parked, keeps its place in its lane, and resumes from the journal', async () => {
      const sid = await createSession(t.http, alice, projectId, { agent: 'DocumentWriter' });
      const parked = await park(sid);
      // Nothing held: no agent slot (limit 1), and another session of the agent runs meanwhile.
      expect(await t.app.get(RunSlots).agentHolders(writer)).toEqual([]);
      const other = await createSession(t.http, alice, projectId, { agent: 'DocumentWriter' });
      const { run: free } = await sendMessage(t.http, alice, projectId, other, { content: 'hi' });
      expect((await waitForRun(t.http, alice, projectId, other, free.id)).status).toBe('completed');
      // Its own lane waits behind it (default on_busy=enqueue).
      const { run: next } = await sendMessage(t.http, alice, projectId, sid, { content: 'next' });
      expect(next.status).toBe('queued');
      const [{ dispatches }] = await sql<{ dispatches: number }[]>(
        'select dispatches from runs where id = ?',
        [next.id],
      );
      expect(dispatches).toBe(0);

      const parkedSteps = (await steps(sid, parked.id)).items;
      expect(parkedSteps.map((s) => [s.kind, s.status])).toEqual([
        ['llm', 'succeeded'],
        ['tool', 'awaiting'],
      ]);
      await t.app
        .get(CommandBus)
        .execute(
          new ResumeRunCommand(parked.id, [
            { seq: 2, status: StepStatus.Succeeded, result: { output: 'approved by a human' } },
          ]),
        );
      const resumed = await waitForRun(t.http, alice, projectId, sid, parked.id);
      expect(resumed.status).toBe('completed');
      expect(
        (await steps(sid, parked.id)).items.map((s) => [s.seq, s.kind, s.status, s.attempts]),
      ).toEqual([
        [1, 'llm', 'succeeded', 1],
        [2, 'tool', 'succeeded', 1],
        [3, 'llm', 'succeeded', 1],
      ]);
      // Then the lane moves on.
      expect((await waitForRun(t.http, alice, projectId, sid, next.id)).status).toBe('completed');
      const replies = (await messages(sid)).filter((m) => m.role === 'assistant' && !m.tool_calls);
      expect(replies.map((m) => m.run_id)).toEqual([parked.id, next.id]);
    });

    it('on_busy: reject answers 409 while the lane is busy; interrupt cancels the active run and starts', async () => {
      const sid = await createSession(t.http, alice, projectId, { agent: 'DocumentWriter' });
      const parked = await park(sid);
      const rejected = await t.http
        .post(`${base()}/${sid}/messages`)
        .set(alice.auth)
        .send({ content: 'now?', on_busy: 'reject' });
      const problem = expectProblem(rejected, 409, 'RUN_IN_PROGRESS');
      expect(problem.run_id).toBe(parked.id);
      // Nothing was stored for the rejected message.
      expect((await messages(sid)).filter((m) => m.content === 'now?')).toEqual([]);

      const { run: urgent } = await sendMessage(t.http, alice, projectId, sid, {
        content: 'urgent',
        on_busy: 'interrupt',
      });
      expect((await waitForRun(t.http, alice, projectId, sid, parked.id)).status).toBe('cancelled');
      expect((await waitForRun(t.http, alice, projectId, sid, urgent.id)).status).toBe('completed');

      expectProblem(
        await t.http
          .post(`${base()}/${sid}/messages`)
          .set(alice.auth)
          .send({ content: 'x', on_busy: 'later' }),
        400,
      );
    });

    it('cancels a parked run at once and the lane moves on', async () => {
      const sid = await createSession(t.http, alice, projectId, { agent: 'DocumentWriter' });
      const parked = await park(sid);
      const { run: next } = await sendMessage(t.http, alice, projectId, sid, { content: 'after' });
      const cancelled = await t.http
        .post(`${base()}/${sid}/runs/${parked.id}/cancel`)
        .set(alice.auth)
        .expect(202);
      expect(cancelled.body.status).toBe('cancelled');
      expect((await waitForRun(t.http, alice, projectId, sid, next.id)).status).toBe('completed');
      expectProblem(
        await t.http.post(`${base()}/${sid}/runs/${parked.id}/cancel`).set(alice.auth),
        409,
        'RUN_ALREADY_FINISHED',
      );
    });
  });

  it('fails a run past its max_run_seconds with RUN_TIMEOUT', async () => {
    await configure('DataAnalyst', { tools: ['test_read'], max_steps: 16, max_run_seconds: 10 });
    const sid = await createSession(t.http, alice, projectId, { agent: 'DataAnalyst' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: '/tool test_read {"text":"endless","delay_ms":60000}',
    });
    const failed = await waitForRun(t.http, alice, projectId, sid, run.id, undefined, 30_000);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('RUN_TIMEOUT');
    const elapsed = Date.parse(failed.finished_at!) - Date.parse(failed.started_at!);
    expect(elapsed).toBeGreaterThanOrEqual(10_000);
    expect(elapsed).toBeLessThan(20_000);
  }, 40_000);

  it('resumes a parent waiting for its children once the last child finishes (saga)', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'DocumentWriter' });
    const { run: parent } = await sendMessage(t.http, alice, projectId, sid, {
      content: 'delegate',
    });
    await waitForRun(t.http, alice, projectId, sid, parent.id);
    // A parent parked on two children (as delegation will create them), written directly.
    await sql(
      `update runs set status = 'awaiting_children', finished_at = null, output_message_id = null where id = ?`,
      [parent.id],
    );
    await sql(`delete from run_steps where run_id = ? and seq > 0`, [parent.id]);
    await sql(`delete from messages where run_id = ? and step_seq is not null`, [parent.id]);
    const children: string[] = [];
    for (const n of [1, 2]) {
      const [{ id }] = await sql<{ id: string }[]>(
        `insert into runs (id, session_id, project_id, owner_id, agent_id, agent_name, parent_run_id, kind, lane, lane_seq, status, state, input)
         select gen_random_uuid(), session_id, project_id, owner_id, agent_id, agent_name, id, 'task', 'run:child-' || ? || '-' || id, 0, 'running', '{}', '{}'
         from runs where id = ? returning id`,
        [n, parent.id],
      );
      children.push(id);
    }
    const lifecycle = t.app.get(RunLifecycle);
    await lifecycle.apply(children[0], RunStatus.Completed, { from: [RunStatus.Running] });
    // The saga saw the first child finish (its handling is recorded) with one sibling still
    // active: the parent stays parked.
    await waitFor('the saga to handle the first child', async () => {
      const handled = await sql<{ n: number }[]>(
        `select count(*)::int as n from domain_event_handlings h join domain_events e on e.id = h.event_id
         where e.aggregate_id = ? and h.handler = 'runs.resume-parent-when-children-finish'`,
        [children[0]],
      );
      return handled[0].n === 1;
    });
    const [{ status: stillParked }] = await sql<{ status: string }[]>(
      'select status from runs where id = ?',
      [parent.id],
    );
    expect(stillParked).toBe('awaiting_children');
    await lifecycle.apply(children[1], RunStatus.Failed, {
      from: [RunStatus.Running],
      error: { code: 'X', message: 'child failed' },
    });
    // The last child's run.finished resumes the parent (queued -> dispatched -> completed).
    const resumed = await waitForRun(t.http, alice, projectId, sid, parent.id);
    expect(resumed.status).toBe('completed');
    const events = await sql<{ type: string }[]>(
      `select type from domain_events where aggregate_id = ? order by seq`,
      [parent.id],
    );
    expect(events.map((e) => e.type)).toEqual(['run.finished', 'run.resumed', 'run.finished']);
  });

  describe('transitions decided under the row lock', () => {
    /** A run of a fresh session set to `status` directly (the lifecycle is what is tested). */
    const runIn = async (status: string) => {
      const sid = await createSession(t.http, alice, projectId, { agent: 'DocumentWriter' });
      const { run } = await sendMessage(t.http, alice, projectId, sid, { content: 'x' });
      await waitForRun(t.http, alice, projectId, sid, run.id);
      await sql(
        `update runs set status = ?, finished_at = null, output_message_id = null where id = ?`,
        [status, run.id],
      );
      return { sid, runId: run.id };
    };
    const park = (runId: string, to: RunStatus) =>
      t.app
        .get(MikroORM)
        .em.fork()
        .transactional((tx) =>
          t.app.get(RunLifecycle).transition(tx, runId, to, { from: [RunStatus.Running] }),
        );

    it('turns a park into a cancel when a cancel was requested meanwhile', async () => {
      const { runId } = await runIn('running');
      await sql(`update runs set cancel_requested_at = now() where id = ?`, [runId]);
      const moved = await park(runId, RunStatus.AwaitingApproval);
      expect(moved?.run.status).toBe('cancelled');
      expect(moved?.run.error?.code).toBe('CANCELLED');
    });

    it('puts a run parking on children that all finished straight back in the queue', async () => {
      const { runId } = await runIn('running');
      const moved = await park(runId, RunStatus.AwaitingChildren);
      expect(moved?.run.status).toBe('queued');
      expect(moved?.dispatched).toHaveLength(1);
    });

    it('parks on a child still active; the child finishing resumes it', async () => {
      const { runId } = await runIn('running');
      const [{ id: child }] = await sql<{ id: string }[]>(
        `insert into runs (id, session_id, project_id, owner_id, agent_id, agent_name, parent_run_id, kind, lane, lane_seq, status, state)
         select gen_random_uuid(), session_id, project_id, owner_id, agent_id, agent_name, id, 'task', 'run:' || gen_random_uuid(), 0, 'running', '{}'
         from runs where id = ? returning id`,
        [runId],
      );
      expect((await park(runId, RunStatus.AwaitingChildren))?.run.status).toBe('awaiting_children');
      await t.app
        .get(RunLifecycle)
        .apply(child, RunStatus.Completed, { from: [RunStatus.Running] });
      await waitFor('the parent to be resumed', async () => {
        const [{ status }] = await sql<{ status: string }[]>(
          'select status from runs where id = ?',
          [runId],
        );
        return status !== 'awaiting_children';
      });
    });

    it('moves the lane on only when its head ends (a cancelled follower re-dispatches nothing)', async () => {
      await configure('DocumentWriter', { tools: ['test_read', 'test_park'] });
      const sid = await createSession(t.http, alice, projectId, { agent: 'DocumentWriter' });
      const { run: head } = await sendMessage(t.http, alice, projectId, sid, {
        content: '/tool test_read {"text":"slow","delay_ms":1500}',
      });
      const { run: follower } = await sendMessage(t.http, alice, projectId, sid, { content: 'b' });
      await waitForRun(t.http, alice, projectId, sid, head.id, ['running']);
      await t.http.post(`${base()}/${sid}/runs/${follower.id}/cancel`).set(alice.auth).expect(202);
      expect((await waitForRun(t.http, alice, projectId, sid, head.id)).status).toBe('completed');
      const [{ dispatches }] = await sql<{ dispatches: number }[]>(
        'select dispatches from runs where id = ?',
        [head.id],
      );
      expect(dispatches).toBe(1);
    });
  });

  it('waits for child runs through the real park path (none: resolved at once)', async () => {
    await configure('DocumentWriter', { tools: ['test_park'] });
    const sid = await createSession(t.http, alice, projectId, { agent: 'DocumentWriter' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: '/tool test_park {"status":"awaiting_children"}',
    });
    expect((await waitForRun(t.http, alice, projectId, sid, run.id)).status).toBe('completed');
    const trace = (await steps(sid, run.id)).items;
    expect(trace[1]).toMatchObject({
      kind: 'tool',
      name: 'test_park',
      status: 'succeeded',
      result: { children: [] },
    });
    expect(trace.at(-1)?.kind).toBe('llm');
  });

  it('runs no tool of a turn past max_steps', async () => {
    await configure('DataAnalyst', { tools: ['test_read'], max_steps: 1, max_run_seconds: 600 });
    const sid = await createSession(t.http, alice, projectId, { agent: 'DataAnalyst' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: '/tool test_read {"text":"never"}',
    });
    const failed = await waitForRun(t.http, alice, projectId, sid, run.id);
    expect(failed.error?.code).toBe('MAX_STEPS_EXCEEDED');
    expect((await steps(sid, run.id)).items.map((s) => s.kind)).toEqual(['llm']);
    expect(failed.usage?.input_tokens).toBeGreaterThan(0);
  });

  it('derives the agent status from what is running', async () => {
    await configure('CodeAssistant', { tools: ['test_read'] });
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: '/tool test_read {"text":"slow","delay_ms":1500}',
    });
    await waitForRun(t.http, alice, projectId, sid, run.id, ['running']);
    expect((await agent('CodeAssistant')).status).toBe('busy');
    await waitForRun(t.http, alice, projectId, sid, run.id);
    expect((await agent('CodeAssistant')).status).toBe('ready');
  });

  it('records run.finished domain events in the transaction that finished the run', async () => {
    const sid = await createSession(t.http, alice, projectId);
    const { run } = await sendMessage(t.http, alice, projectId, sid, { content: 'event me' });
    const done: RunView = await waitForRun(t.http, alice, projectId, sid, run.id);
    const events = await sql<{ type: string; payload: Record<string, unknown> }[]>(
      `select type, payload from domain_events where aggregate_id = ? order by seq`,
      [run.id],
    );
    expect(events).toEqual([
      {
        type: 'run.finished',
        payload: expect.objectContaining({ run_id: run.id, status: 'completed', from: 'running' }),
      },
    ]);
    expect(done.status).toBe('completed');
  });

  it("answers 404 for another user's run journal, and 400 for bad paging", async () => {
    const sid = await createSession(t.http, alice, projectId);
    const { run } = await sendMessage(t.http, alice, projectId, sid, { content: 'mine' });
    await waitForRun(t.http, alice, projectId, sid, run.id);
    const url = `${base()}/${sid}/runs/${run.id}/steps`;
    expectProblem(await t.http.get(url).set(bob.auth), 404);
    const bobProject = await createProject(t.http, bob, 'bob');
    const bobSession = await createSession(t.http, bob, bobProject);
    expectProblem(
      await t.http
        .get(`/v1/my/projects/${bobProject}/sessions/${bobSession}/runs/${run.id}/steps`)
        .set(bob.auth),
      404,
    );
    expectProblem(await t.http.get(`${url}?limit=0`).set(alice.auth), 400);
    expectProblem(await t.http.get(`${url}?after=-1`).set(alice.auth), 400);
    expectProblem(await t.http.get(`${url}?after=3000000000`).set(alice.auth), 400);
  });
});
