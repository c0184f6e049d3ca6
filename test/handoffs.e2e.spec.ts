import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
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
import { listenUrl, TestSseClient } from './support/sse-client';

interface SwitchView {
  id: string;
  from_agent_name: string | null;
  to_agent_name: string;
  reason: string;
  explanation: string | null;
  note: string | null;
  run_id: string | null;
  continuation_run_id: string | null;
}

interface RunDetail extends RunView {
  kind: string;
  parent_run_id: string | null;
  input: Record<string, unknown> | null;
  result: unknown;
  children: RunDetail[];
}

interface StepView {
  seq: number;
  name: string;
  status: string;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

interface MessageView {
  id: string;
  role: string;
  content: string;
  run_id: string | null;
  agent_name: string | null;
  metadata: Record<string, unknown>;
  internal: boolean;
}

const delegate = (agent: string, args: Record<string, unknown>) =>
  `/delegate ${agent} ${JSON.stringify(args)}`;
const TOTAL = {
  type: 'object',
  required: ['total'],
  additionalProperties: false,
  properties: { total: { type: 'integer' } },
};

/**
 * Agent switching (switch_agent, the user's active-agent) and delegation (delegate -> child task
 * -> parent resumes), end to end through the API, the domain-event saga and the in-process worker.
 */
describe('agent switching and hand-offs (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let projectId: string;

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        APP_ROLE: 'all',
        RUN_RELAY_INTERVAL_MS: '300',
        DELEGATION_MAX_DEPTH: '1',
        DELEGATION_MAX_FANOUT: '2',
      },
    });
    await t.app.listen(0, '127.0.0.1');
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
    projectId = await createProject(t.http, alice, 'handoffs');
  });
  afterAll(async () => {
    await t.close();
  });

  const sessionUrl = (sid: string, rest = '') =>
    `/v1/my/projects/${projectId}/sessions/${sid}${rest}`;
  const sql = async <T>(query: string, params: unknown[] = []): Promise<T> =>
    (await t.app.get(MikroORM).em.fork().getConnection().execute(query, params)) as T;
  const getRun = async (sid: string, runId: string, user = alice) =>
    (
      await t.http
        .get(sessionUrl(sid, `/runs/${runId}`))
        .set(user.auth)
        .expect(200)
    ).body as RunDetail;
  const steps = async (sid: string, runId: string) =>
    (
      await t.http
        .get(sessionUrl(sid, `/runs/${runId}/steps`))
        .set(alice.auth)
        .expect(200)
    ).body.items as StepView[];
  const switches = async (sid: string, query: Record<string, unknown> = {}) =>
    (await t.http.get(sessionUrl(sid, '/agent-switches')).query(query).set(alice.auth).expect(200))
      .body as { items: SwitchView[]; next_cursor: string | null };
  const messages = async (sid: string) =>
    (
      await t.http
        .get(sessionUrl(sid, '/messages'))
        .query({ limit: 100 })
        .set(alice.auth)
        .expect(200)
    ).body.items as MessageView[];
  const session = async (sid: string) =>
    (await t.http.get(sessionUrl(sid)).set(alice.auth).expect(200)).body as {
      current_agent_id: string | null;
    };
  const agentId = async (name: string, project = projectId) => {
    const res = await t.http
      .get(`/v1/my/projects/${project}/agents`)
      .query({ limit: 100 })
      .set(alice.auth)
      .expect(200);
    return (res.body.items as { id: string; name: string }[]).find((a) => a.name === name)!.id;
  };
  const createAgent = async (body: Record<string, unknown>) =>
    (
      await t.http
        .post(`/v1/my/projects/${projectId}/agents`)
        .set(alice.auth)
        .send(body)
        .expect(201)
    ).body as { id: string; name: string };
  /** The run the switch saga released for the new agent. */
  const continuationOf = async (sid: string, switchingRunId: string) => {
    let found: SwitchView | undefined;
    await waitFor('the switch to be applied', async () => {
      found = (await switches(sid)).items.find((s) => s.run_id === switchingRunId);
      return found !== undefined;
    });
    return found!;
  };

  it('moves the conversation from CodeAssistant to DocumentWriter by tool call, with history and SSE', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const sse = await new TestSseClient(
      `${listenUrl(t.app.getHttpServer())}${sessionUrl(sid, '/events?from=start')}`,
      alice.auth,
    ).open();
    try {
      const { run, message } = await sendMessage(t.http, alice, projectId, sid, {
        content:
          'Please document the setup.\n/switch DocumentWriter the user wants documentation | Write the setup section',
      });
      const first = await waitForRun(t.http, alice, projectId, sid, run.id);
      expect(first.status).toBe('completed');
      expect(first.agent_name).toBe('CodeAssistant');
      // The switch is the run's last step.
      const firstSteps = await steps(sid, run.id);
      expect(firstSteps.at(-1)).toMatchObject({ name: 'switch_agent', status: 'succeeded' });

      const applied = await continuationOf(sid, run.id);
      expect(applied).toMatchObject({
        from_agent_name: 'CodeAssistant',
        to_agent_name: 'DocumentWriter',
        reason: 'tool',
        explanation: 'the user wants documentation',
        note: 'Write the setup section',
      });
      const continuation = await waitForRun(
        t.http,
        alice,
        projectId,
        sid,
        applied.continuation_run_id!,
      );
      expect(continuation).toMatchObject({ status: 'completed', agent_name: 'DocumentWriter' });
      const detail = await getRun(sid, continuation.id);
      // It answers the user's last message, told by the note.
      expect(detail.input).toMatchObject({
        switch: { from_agent_name: 'CodeAssistant', note: 'Write the setup section' },
      });
      const reply = (await messages(sid)).find((m) => m.id === continuation.output_message_id)!;
      expect(reply.agent_name).toBe('DocumentWriter');
      expect(reply.content).toContain('Please document the setup.');
      expect(reply.content).toContain('Taking over: CodeAssistant handed this conversation to you');
      // The user's message is the one it answers.
      const [{ input_message_id }] = await sql<{ input_message_id: string }[]>(
        'select input_message_id from runs where id = ?',
        [continuation.id],
      );
      expect(input_message_id).toBe(message.id);
      expect((await session(sid)).current_agent_id).toBe(await agentId('DocumentWriter'));

      const event = await sse.waitForEvent('agent_switched');
      expect(event.json.payload).toMatchObject({
        from: 'CodeAssistant',
        to: 'DocumentWriter',
        reason: 'tool',
      });
      // Stream order: the switching run ends, the switch, then the new agent's run.
      const types = sse.types();
      const switchedAt = types.indexOf('agent_switched');
      expect(types.indexOf('run_completed')).toBeLessThan(switchedAt);
      await sse.waitForEvent('message_completed');
      expect(
        sse.events.findIndex((e) => e.event === 'run_started' && e.json.run_id === continuation.id),
      ).toBeGreaterThan(switchedAt);

      // The next message goes to the new current agent.
      const next = await sendMessage(t.http, alice, projectId, sid, { content: 'And now?' });
      expect(next.run.agent_name).toBe('DocumentWriter');
      await waitForRun(t.http, alice, projectId, sid, next.run.id);
    } finally {
      sse.close();
    }
  });

  it('hands over the conversation without the previous agent’s tool calls and results', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    await sendMessage(t.http, alice, projectId, sid, { content: 'earlier question' }).then((r) =>
      waitForRun(t.http, alice, projectId, sid, r.run.id),
    );
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: 'list then hand over\n/tool list_files {}\n/switch DocumentWriter docs needed',
    });
    await waitForRun(t.http, alice, projectId, sid, run.id);
    const applied = await continuationOf(sid, run.id);
    const continuation = await waitForRun(
      t.http,
      alice,
      projectId,
      sid,
      applied.continuation_run_id!,
    );
    const reply = (await messages(sid)).find((m) => m.id === continuation.output_message_id)!;
    // History: the earlier question and its answer (text turns); the list_files call, its result
    // and the switch call of the previous agent are not part of the prompt.
    expect(reply.metadata.history_messages).toBe(2);
    expect(reply.content).not.toContain('returned');
    expect(reply.content).toContain('list then hand over');
  });

  it('routes a message to the agent whose role fits its keywords (offline /route)', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: '/route please write the docs for the setup',
    });
    await waitForRun(t.http, alice, projectId, sid, run.id);
    const applied = await continuationOf(sid, run.id);
    expect(applied).toMatchObject({ to_agent_name: 'DocumentWriter', reason: 'tool' });
    // The new agent does not route again (the request fits its own role).
    const continuation = await waitForRun(
      t.http,
      alice,
      projectId,
      sid,
      applied.continuation_run_id!,
    );
    expect(continuation.status).toBe('completed');
    expect((await steps(sid, continuation.id)).map((s) => s.name)).not.toContain('switch_agent');
    expect((await switches(sid)).items).toHaveLength(1);
  });

  it('never parks a hand-off for approval, even when the project lists the tools', async () => {
    const other = await createProject(t.http, alice, 'approving');
    await t.http
      .patch(`/v1/my/projects/${other}`)
      .set(alice.auth)
      .send({ settings: { approval_tools: ['switch_agent', 'delegate'] } })
      .expect(200);
    const url = `/v1/my/projects/${other}/sessions`;
    const sid = (
      await t.http.post(url).set(alice.auth).send({ agent: 'CodeAssistant' }).expect(201)
    ).body.id as string;
    const sent = await t.http
      .post(`${url}/${sid}/messages`)
      .set(alice.auth)
      .send({
        content: `both\n${delegate('DataAnalyst', { instruction: '/reply 42' })}\n/switch DocumentWriter docs`,
      })
      .expect(202);
    const runId = sent.body.run.id as string;
    const done = await waitForRun(t.http, alice, other, sid, runId);
    expect(done.status).toBe('completed');
    const names = (
      await t.http.get(`${url}/${sid}/runs/${runId}/steps`).set(alice.auth).expect(200)
    ).body.items.map((s: StepView) => `${s.name}:${s.status}`);
    expect(names).toEqual(expect.arrayContaining(['delegate:succeeded', 'switch_agent:succeeded']));
    const pending = await t.http
      .get(`/v1/my/projects/${other}/approvals`)
      .set(alice.auth)
      .expect(200);
    expect(pending.body.items).toHaveLength(0);
  });

  it('keeps the receiving agent’s own tool policy: a switch never grants writes', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content:
        'analyse then write\n/switch DataAnalyst numbers | /tool write_file {"path": "analyst.txt", "content": "x"}',
    });
    await waitForRun(t.http, alice, projectId, sid, run.id);
    const applied = await continuationOf(sid, run.id);
    const continuation = await waitForRun(
      t.http,
      alice,
      projectId,
      sid,
      applied.continuation_run_id!,
    );
    expect(continuation.status).toBe('completed');
    expect(continuation.agent_name).toBe('DataAnalyst');
    // DataAnalyst (read-only) has no write_file: nothing was written, nothing was called.
    expect(existsSync(join(t.config.workspace.dir, projectId, 'analyst.txt'))).toBe(false);
    expect((await steps(sid, continuation.id)).map((s) => s.name)).not.toContain('write_file');
    const reply = (await messages(sid)).find((m) => m.id === continuation.output_message_id)!;
    expect(reply.content).toContain('"write_file" is not available');
  });

  it('refuses a switch to a name that does not exist or to another project’s agent (tool error)', async () => {
    const other = await createProject(t.http, alice, 'elsewhere');
    await t.http
      .post(`/v1/my/projects/${other}/agents`)
      .set(alice.auth)
      .send({ name: 'Outsider', role: 'ask' })
      .expect(201);
    const outsiderId = await agentId('Outsider', other);
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: `try\n/switch Nobody because\n/switch Outsider because\n/switch ${outsiderId} because`,
    });
    const done = await waitForRun(t.http, alice, projectId, sid, run.id);
    expect(done.status).toBe('completed');
    const calls = (await steps(sid, run.id)).filter((s) => s.name === 'switch_agent');
    expect(calls).toHaveLength(3);
    for (const call of calls)
      expect(call).toMatchObject({ status: 'failed', error: { code: 'UNKNOWN_AGENT' } });
    expect((await switches(sid)).items).toHaveLength(0);
    expect((await session(sid)).current_agent_id).toBe(await agentId('CodeAssistant'));
  });

  it('fails a message handed around past MAX_SWITCHES_PER_MESSAGE with SWITCH_LIMIT_EXCEEDED', async () => {
    // Two agents whose own prompts hand the conversation to each other (offline directives).
    await createAgent({
      name: 'PingAgent',
      role: 'ask',
      system_prompt: 'Ping.\n/switch PongAgent loop',
    });
    await createAgent({
      name: 'PongAgent',
      role: 'ask',
      system_prompt: 'Pong.\n/switch PingAgent loop',
    });
    const sid = await createSession(t.http, alice, projectId, { agent: 'PingAgent' });
    const { run, message } = await sendMessage(t.http, alice, projectId, sid, {
      content: 'go\n/switch PongAgent start',
    });
    await waitForRun(t.http, alice, projectId, sid, run.id);
    let failed: { id: string; status: string; error: { code: string } | null }[] = [];
    await waitFor('the chain to fail', async () => {
      failed = await sql(
        `select id, status, error from runs where input_message_id = ? and status = 'failed'`,
        [message.id],
      );
      return failed.length > 0;
    });
    expect(failed).toHaveLength(1);
    expect(failed[0].error?.code).toBe('SWITCH_LIMIT_EXCEEDED');
    const runs = await sql<{ status: string }[]>(
      'select status from runs where input_message_id = ? order by created_at',
      [message.id],
    );
    // The original run and five continuations: the fifth one's switch fails it.
    expect(runs).toHaveLength(6);
    expect((await switches(sid, { limit: 100 })).items).toHaveLength(5);
    // The lane is not stuck: a new message is answered.
    const next = await sendMessage(t.http, alice, projectId, sid, { content: 'still there?' });
    expect((await waitForRun(t.http, alice, projectId, sid, next.run.id)).status).toBe('completed');
  });

  it('lets the user switch (reason user); target_agent still calls an agent directly', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const res = await t.http
      .post(sessionUrl(sid, '/active-agent'))
      .set(alice.auth)
      .send({ agent: 'DataAnalyst', explanation: 'numbers next' })
      .expect(200);
    expect(res.body).toMatchObject({
      from_agent_name: 'CodeAssistant',
      to_agent_name: 'DataAnalyst',
      reason: 'user',
      explanation: 'numbers next',
      continuation_run_id: null,
    });
    const { run } = await sendMessage(t.http, alice, projectId, sid, { content: 'hello' });
    expect(run.agent_name).toBe('DataAnalyst');
    await waitForRun(t.http, alice, projectId, sid, run.id);
    // A direct call does not change who answers next.
    const direct = await sendMessage(t.http, alice, projectId, sid, {
      content: 'one question',
      target_agent: 'DocumentWriter',
    });
    expect(direct.run.agent_name).toBe('DocumentWriter');
    await waitForRun(t.http, alice, projectId, sid, direct.run.id);
    expect((await session(sid)).current_agent_id).toBe(await agentId('DataAnalyst'));

    await t.http
      .post(sessionUrl(sid, '/active-agent'))
      .set(alice.auth)
      .send({ agent: 'DocumentWriter' })
      .expect(200);
    // History, newest first, keyset-paginated.
    const page1 = await switches(sid, { limit: 1 });
    expect(page1.items.map((s) => s.to_agent_name)).toEqual(['DocumentWriter']);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const page2 = await switches(sid, { limit: 1, cursor: page1.next_cursor });
    expect(page2.items.map((s) => s.to_agent_name)).toEqual(['DataAnalyst']);
    expect(page2.next_cursor).toBeNull();
  });

  it('answers bad and foreign switch requests with problem+json (422, 404, 409, 400)', async () => {
    const sid = await createSession(t.http, alice, projectId, {});
    expectProblem(
      await t.http.post(sessionUrl(sid, '/active-agent')).set(alice.auth).send({ agent: 'Nobody' }),
      422,
      'UNKNOWN_AGENT',
    );
    expectProblem(
      await t.http.post(sessionUrl(sid, '/active-agent')).set(alice.auth).send({ agent: '' }),
      400,
    );
    expectProblem(
      await t.http.post(sessionUrl(sid, '/active-agent')).set(alice.auth).send({}),
      400,
    );
    // Bob sees nothing of Alice's session: 404 on every route, the switch and its history included.
    expectProblem(
      await t.http
        .post(sessionUrl(sid, '/active-agent'))
        .set(bob.auth)
        .send({ agent: 'DataAnalyst' }),
      404,
    );
    expectProblem(await t.http.get(sessionUrl(sid, '/agent-switches')).set(bob.auth), 404);
    // ...also through a project of his own: the session is looked up by id AND owner.
    const bobs = await createProject(t.http, bob, 'bobs');
    const viaOwn = `/v1/my/projects/${bobs}/sessions/${sid}`;
    expectProblem(
      await t.http.post(`${viaOwn}/active-agent`).set(bob.auth).send({ agent: 'DataAnalyst' }),
      404,
    );
    expectProblem(await t.http.get(`${viaOwn}/agent-switches`).set(bob.auth), 404);
    expectProblem(
      await t.http.get(sessionUrl(sid, '/agent-switches')).query({ cursor: 'x' }).set(alice.auth),
      400,
    );
    await t.http.delete(sessionUrl(sid)).set(alice.auth).expect(204);
    expectProblem(
      await t.http
        .post(sessionUrl(sid, '/active-agent'))
        .set(alice.auth)
        .send({ agent: 'DataAnalyst' }),
      409,
      'SESSION_ARCHIVED',
    );
    expect((await switches(sid)).items).toHaveLength(0);
  });

  it('does not switch while a call of the run waits for approval', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content:
        'write then switch\n/tool write_file {"path": "before-switch.md", "content": "x"} && switch_agent {"agent": "DocumentWriter", "reason": "docs"}',
    });
    await waitForRun(t.http, alice, projectId, sid, run.id, ['awaiting_approval']);
    expect((await switches(sid)).items).toHaveLength(0);
    expect((await session(sid)).current_agent_id).toBe(await agentId('CodeAssistant'));
    const approvals = await t.http
      .get(`/v1/my/projects/${projectId}/approvals`)
      .query({ session_id: sid, status: 'pending' })
      .set(alice.auth)
      .expect(200);
    const [approval] = approvals.body.items as { id: string; args_digest: string }[];
    await t.http
      .post(`/v1/my/projects/${projectId}/approvals/${approval.id}/approve`)
      .set(alice.auth)
      .send({ args_digest: approval.args_digest })
      .expect(200);
    await waitForRun(t.http, alice, projectId, sid, run.id);
    const applied = await continuationOf(sid, run.id);
    expect(applied.to_agent_name).toBe('DocumentWriter');
    expect(existsSync(join(t.config.workspace.dir, projectId, 'before-switch.md'))).toBe(true);
  });

  it('delegates: the child returns a schema-valid result to its parent, which resumes', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const sse = await new TestSseClient(
      `${listenUrl(t.app.getHttpServer())}${sessionUrl(sid, '/events?from=start')}`,
      alice.auth,
    ).open();
    try {
      const { run } = await sendMessage(t.http, alice, projectId, sid, {
        content: `count them\n${delegate('DataAnalyst', { instruction: 'Count.\n/reply {"total": 3}', returns: TOTAL })}`,
      });
      const parent = await waitForRun(t.http, alice, projectId, sid, run.id);
      expect(parent.status).toBe('completed');
      const detail = await getRun(sid, run.id);
      expect(detail.children).toHaveLength(1);
      const [child] = detail.children;
      expect(child).toMatchObject({
        kind: 'task',
        agent_name: 'DataAnalyst',
        status: 'completed',
        parent_run_id: run.id,
        result: { total: 3 },
      });
      expect(child.input).toMatchObject({
        task: { instruction: 'Count.\n/reply {"total": 3}', from_agent_name: 'CodeAssistant' },
      });
      expect((await getRun(sid, child.id)).parent_run_id).toBe(run.id);
      const call = (await steps(sid, run.id)).find((s) => s.name === 'delegate')!;
      expect(call).toMatchObject({
        status: 'succeeded',
        result: { output: { agent: 'DataAnalyst', run_id: child.id, result: { total: 3 } } },
      });
      // The parent stopped (holding nothing) and was started again once the child was done.
      await sse.waitForEvent('run_completed');
      await waitFor('the parent to complete on the stream', async () =>
        sse.events.some((e) => e.event === 'run_completed' && e.json.run_id === run.id),
      );
      const statuses = sse.events.filter((e) => e.json.run_id === run.id).map((e) => e.event);
      expect(statuses.filter((s) => s === 'run_started')).toHaveLength(2);
      const started = await sse.waitForEvent('delegation_started');
      expect(started.json.payload).toMatchObject({ agent: 'DataAnalyst', child_run_id: child.id });
      await sse.waitForEvent('delegation_finished');
      // The child's turns are listed with the session but are not part of its conversation.
      const all = await messages(sid);
      const childTurns = all.filter((m) => m.run_id === child.id);
      expect(childTurns.length).toBeGreaterThan(0);
      expect(childTurns.every((m) => m.internal)).toBe(true);
      expect(all.filter((m) => m.run_id === run.id).every((m) => !m.internal)).toBe(true);
      const [{ n }] = await sql<{ n: number }[]>(
        'select count(*)::int as n from messages where run_id = ? and not internal',
        [child.id],
      );
      expect(n).toBe(0);
      const reply = all.find((m) => m.id === parent.output_message_id)!;
      expect(reply.content).toContain('"total":3');
    } finally {
      sse.close();
    }
  });

  it('gives an invalid result one repair turn, then a typed failure to the parent', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: `twice\n${delegate('DataAnalyst', { instruction: '/reply not json\n/reply {"total": 4}', returns: TOTAL })}\n${delegate('DataAnalyst', { instruction: '/reply {"total": "many"}', returns: TOTAL })}`,
    });
    // (Two /delegate lines in a row are one turn: both children run in parallel.)
    expect((await waitForRun(t.http, alice, projectId, sid, run.id)).status).toBe('completed');
    const [repaired, broken] = (await getRun(sid, run.id)).children;
    expect(repaired).toMatchObject({ status: 'completed', result: { total: 4 } });
    expect(broken).toMatchObject({ status: 'failed', error: { code: 'RESULT_SCHEMA_INVALID' } });
    expect((await steps(sid, repaired.id)).map((s) => s.name)).toContain('result_repair');
    const calls = (await steps(sid, run.id)).filter((s) => s.name === 'delegate');
    expect(calls[0]).toMatchObject({ status: 'succeeded' });
    expect(calls[1]).toMatchObject({
      status: 'failed',
      error: { code: 'DELEGATION_RESULT_INVALID' },
      result: { child_status: 'failed', run_id: broken.id },
    });
    // Both children were started before the parent stopped: it ran twice, not three times.
    const [{ executions }] = await sql<{ executions: number }[]>(
      'select executions from runs where id = ?',
      [run.id],
    );
    expect(executions).toBe(2);
  });

  it('refuses cycles, depth past DELEGATION_MAX_DEPTH and fan-out past DELEGATION_MAX_FANOUT', async () => {
    await createAgent({ name: 'Planner2', role: 'coder' });
    await createAgent({ name: 'Helper2', role: 'coder' });
    const sid = await createSession(t.http, alice, projectId, { agent: 'Planner2' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: [
        'nest',
        // Helper2 tries to delegate back (a cycle), then further down (too deep with max 1).
        delegate('Helper2', {
          instruction: '/delegate Planner2 back again\n/delegate DataAnalyst deeper',
        }),
        delegate('DataAnalyst', { instruction: '/reply fine' }),
        delegate('DocumentWriter', { instruction: '/reply too many' }),
      ].join('\n'),
    });
    expect((await waitForRun(t.http, alice, projectId, sid, run.id)).status).toBe('completed');
    const calls = (await steps(sid, run.id)).filter((s) => s.name === 'delegate');
    expect(calls.map((c) => c.status)).toEqual(['succeeded', 'succeeded', 'failed']);
    expect(calls[2].error?.code).toBe('FANOUT_EXCEEDED');
    const children = (await getRun(sid, run.id)).children;
    expect(children.map((c) => c.agent_name)).toEqual(['Helper2', 'DataAnalyst']);
    const helperCalls = (await steps(sid, children[0].id)).filter((s) => s.name === 'delegate');
    expect(helperCalls.map((c) => c.error?.code)).toEqual([
      'DELEGATION_CYCLE',
      'DELEGATION_TOO_DEEP',
    ]);
    expect((await getRun(sid, children[0].id)).children).toHaveLength(0);
  });

  it('cancelling the parent cancels its children within 5 s', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    // The child (a coder) parks on an approval: it stays active until the parent goes.
    await createAgent({ name: 'Writer2', role: 'coder' });
    const parked = await sendMessage(t.http, alice, projectId, sid, {
      content: delegate('Writer2', {
        instruction: '/tool write_file {"path": "child.txt", "content": "c"}',
      }),
    });
    await waitForRun(t.http, alice, projectId, sid, parked.run.id, ['awaiting_children']);
    let child: RunDetail | undefined;
    await waitFor('the child to park on its approval', async () => {
      child = (await getRun(sid, parked.run.id)).children[0];
      return child?.status === 'awaiting_approval';
    });
    await t.http
      .post(sessionUrl(sid, `/runs/${parked.run.id}/cancel`))
      .set(alice.auth)
      .expect(202);
    const started = Date.now();
    await waitForRun(t.http, alice, projectId, sid, child!.id, ['cancelled'], 5_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await getRun(sid, child!.id)).error?.code).toBe('PARENT_ENDED');
    expect((await getRun(sid, parked.run.id)).status).toBe('cancelled');
    // Another user's view of the parent and child: 404.
    expectProblem(await t.http.get(sessionUrl(sid, `/runs/${child!.id}`)).set(bob.auth), 404);
  });
});
