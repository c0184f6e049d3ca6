import { MikroORM } from '@mikro-orm/postgresql';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';
import { createProject, sendMessage, waitForRun } from './support/sessions-helpers';
import { waitFor } from './support/child-process';
import { listenUrl, TestSseClient } from './support/sse-client';

interface TaskView {
  id: string;
  agent: string;
  status: string;
  attempt: number;
  child_run_id: string | null;
  result_summary: string | null;
  error: { code: string; message: string } | null;
  started_at: string | null;
  finished_at: string | null;
}
interface PlanView {
  id: string;
  status: string;
  replans: number;
  recoveries: number;
  tasks: TaskView[];
}

interface Task {
  id: string;
  agent: string;
  instruction: string;
  depends_on?: string[];
  writes?: string[];
  on_failure?: string;
}
const plan = (...plans: Task[][]) =>
  plans
    .map(
      (tasks) =>
        `/plan ${JSON.stringify({ decision: 'plan', tasks: tasks.map((t) => ({ depends_on: [], ...t })) })}`,
    )
    .join('\n');

/** Orchestrated sessions: the orchestrator routes or plans, the scheduler runs the DAG. */
describe('orchestrated mode (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let projectId: string;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'all', RUN_RELAY_INTERVAL_MS: '300' } });
    await t.app.listen(0, '127.0.0.1');
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
    projectId = await createProject(t.http, alice, 'orchestrated');
  });
  afterAll(async () => {
    await t.close();
  });

  const sessionUrl = (sid: string, rest = '') =>
    `/v1/my/projects/${projectId}/sessions/${sid}${rest}`;
  const orchestrated = async () =>
    (
      await t.http
        .post(`/v1/my/projects/${projectId}/sessions`)
        .set(alice.auth)
        .send({ mode: 'orchestrated' })
        .expect(201)
    ).body as { id: string; mode: string };
  const planOf = async (sid: string, runId: string) =>
    (
      await t.http
        .get(sessionUrl(sid, `/runs/${runId}/plan`))
        .set(alice.auth)
        .expect(200)
    ).body as PlanView;
  const sql = async <T>(query: string, params: unknown[] = []): Promise<T> =>
    (await t.app.get(MikroORM).em.fork().getConnection().execute(query, params)) as T;
  const run = async (content: string, statuses?: string[]) => {
    const { id: sid } = await orchestrated();
    const sent = await sendMessage(t.http, alice, projectId, sid, { content });
    expect(sent.run).toMatchObject({ agent_name: 'Orchestrator' });
    const done = await waitForRun(t.http, alice, projectId, sid, sent.run.id, statuses, 30_000);
    return { sid, runId: sent.run.id, done };
  };

  it('routes a request that one agent can answer, recorded as a switch (reason routed)', async () => {
    const { sid, runId, done } = await run('please write the docs for setup');
    expect(done.status).toBe('completed');
    let routed: { id: string; agent_name: string; status: string } | undefined;
    await waitFor('the routed run', async () => {
      const res = await t.http.get(sessionUrl(sid, '/runs')).set(alice.auth).expect(200);
      routed = (res.body.items as { id: string; agent_name: string; status: string }[]).find(
        (r) => r.id !== runId && r.status === 'completed',
      );
      return routed !== undefined;
    });
    expect(routed!.agent_name).toBe('DocumentWriter');
    const switches = await t.http
      .get(sessionUrl(sid, '/agent-switches'))
      .set(alice.auth)
      .expect(200);
    expect(switches.body.items[0]).toMatchObject({
      to_agent_name: 'DocumentWriter',
      reason: 'routed',
    });
    // A route has no plan.
    expectProblem(await t.http.get(sessionUrl(sid, `/runs/${runId}/plan`)).set(alice.auth), 404);
  });

  it('runs a diamond A -> (B, C) -> D: B and C together, D with both results, one final answer', async () => {
    const { id: sid } = await orchestrated();
    const sse = await new TestSseClient(
      `${listenUrl(t.app.getHttpServer())}${sessionUrl(sid, '/events?from=start')}`,
      alice.auth,
    ).open();
    try {
      const sent = await sendMessage(t.http, alice, projectId, sid, {
        content: `build it\n${plan([
          { id: 'a', agent: 'CodeAssistant', instruction: 'start\n/reply alpha' },
          { id: 'b', agent: 'DataAnalyst', instruction: 'left\n/reply beta', depends_on: ['a'] },
          {
            id: 'c',
            agent: 'DocumentWriter',
            instruction: 'right\n/reply gamma',
            depends_on: ['a'],
          },
          {
            id: 'd',
            agent: 'CodeAssistant',
            instruction: 'join\n/reply delta',
            depends_on: ['b', 'c'],
          },
        ])}`,
      });
      const done = await waitForRun(t.http, alice, projectId, sid, sent.run.id, undefined, 30_000);
      expect(done.status).toBe('completed');
      const p = await planOf(sid, sent.run.id);
      expect(p.status).toBe('completed');
      expect(p.tasks.map((x) => [x.id, x.status, x.result_summary])).toEqual([
        ['a', 'completed', 'alpha'],
        ['b', 'completed', 'beta'],
        ['c', 'completed', 'gamma'],
        ['d', 'completed', 'delta'],
      ]);
      const [a, b, c, d] = p.tasks;
      const at = (s: string | null) => Date.parse(s!);
      // B and C start as soon as A is done, together; D only after both.
      expect(at(b.started_at)).toBeGreaterThanOrEqual(at(a.finished_at));
      expect(at(b.started_at)).toBeLessThan(at(c.finished_at));
      expect(at(c.started_at)).toBeLessThan(at(b.finished_at));
      expect(at(d.started_at)).toBeGreaterThanOrEqual(
        Math.max(at(b.finished_at), at(c.finished_at)),
      );
      // D's input carries its dependencies' results.
      const [{ input }] = await sql<{ input: { task: { instruction: string } } }[]>(
        'select input from runs where id = ?',
        [d.child_run_id],
      );
      expect(input.task.instruction).toContain('- b (DataAnalyst): beta');
      expect(input.task.instruction).toContain('- c (DocumentWriter): gamma');
      // The stream tells the story; one final answer by the orchestrator.
      await sse.waitForEvent('orchestration_completed');
      const types = sse.types();
      expect(types).toContain('plan_created');
      expect(types.filter((x) => x === 'task_started')).toHaveLength(4);
      expect(types.filter((x) => x === 'task_completed')).toHaveLength(4);
      const messages = await t.http
        .get(sessionUrl(sid, '/messages'))
        .query({ limit: 100 })
        .set(alice.auth)
        .expect(200);
      const answers = (
        messages.body.items as { run_id: string; role: string; agent_name: string }[]
      ).filter((m) => m.run_id === sent.run.id && m.role === 'assistant');
      expect(answers).toHaveLength(1);
      expect(answers[0].agent_name).toBe('Orchestrator');
      const detail = await t.http
        .get(sessionUrl(sid, `/runs/${sent.run.id}`))
        .set(alice.auth)
        .expect(200);
      expect(detail.body.children).toHaveLength(4);
      expect(detail.body.plan).toMatchObject({ id: p.id, status: 'completed' });
    } finally {
      sse.close();
    }
  });

  it('re-plans once after an invalid plan (a cycle), then fails PLAN_INVALID naming the cycle', async () => {
    const cycle: Task[] = [
      { id: 'x', agent: 'CodeAssistant', instruction: 'x', depends_on: ['y'] },
      { id: 'y', agent: 'CodeAssistant', instruction: 'y', depends_on: ['x'] },
    ];
    const good: Task[] = [
      { id: 'z', agent: 'DataAnalyst', instruction: '/reply zed' },
      { id: 'w', agent: 'DataAnalyst', instruction: '/reply w' },
    ];
    const fixed = await run(`go\n${plan(cycle, good)}`);
    expect(fixed.done.status).toBe('completed');
    expect((await planOf(fixed.sid, fixed.runId)).replans).toBe(1);

    const broken = await run(`go\n${plan(cycle, cycle)}`);
    expect(broken.done.status).toBe('failed');
    expect(broken.done.error).toMatchObject({ code: 'PLAN_INVALID' });
    expect(broken.done.error!.message).toMatch(/cycle: (x -> y -> x|y -> x -> y)/);

    const unknown = await run(
      `go\n${plan([
        { id: 'u', agent: 'Nobody', instruction: 'u' },
        { id: 'v', agent: 'Nobody', instruction: 'v' },
      ])}`,
    );
    expect(unknown.done.error?.message).toContain('no agent "Nobody"');
  });

  it('applies the failure policies: retry, skip (dependants run), failed (dependants skipped)', async () => {
    const { sid, runId, done } = await run(
      `go\n${plan([
        {
          id: 'r',
          agent: 'DataAnalyst',
          instruction: '/fail-first 1 flaky\n/reply recovered',
          on_failure: 'retry',
        },
        { id: 's', agent: 'DataAnalyst', instruction: '/fail broken', on_failure: 'skip' },
        { id: 'after_s', agent: 'DataAnalyst', instruction: '/reply went on', depends_on: ['s'] },
        { id: 'f', agent: 'DataAnalyst', instruction: '/fail always', on_failure: 'retry' },
        { id: 'after_f', agent: 'DataAnalyst', instruction: '/reply never', depends_on: ['f'] },
      ])}`,
    );
    const p = await planOf(sid, runId);
    const byId = Object.fromEntries(p.tasks.map((x) => [x.id, x]));
    expect(byId.r).toMatchObject({ status: 'completed', attempt: 2, result_summary: 'recovered' });
    expect(byId.s).toMatchObject({ status: 'skipped', error: { code: 'TASK_SKIPPED' } });
    expect(byId.after_s).toMatchObject({ status: 'completed' });
    expect(byId.f).toMatchObject({ status: 'failed', attempt: 3 });
    expect(byId.after_f).toMatchObject({ status: 'skipped', error: { code: 'DEPENDENCY_FAILED' } });
    expect(p.status).toBe('failed');
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('PLAN_FAILED');
    // The final answer was still written.
    expect(done.output_message_id).toEqual(expect.any(String));
  });

  it('asks the planner to recover when a task failed: new tasks replace it', async () => {
    const { sid, runId, done } = await run(
      `go\n${plan(
        [
          { id: 'broken', agent: 'DataAnalyst', instruction: '/fail down', on_failure: 'retry' },
          { id: 'after', agent: 'DataAnalyst', instruction: '/reply x', depends_on: ['broken'] },
          { id: 'fine', agent: 'DocumentWriter', instruction: '/reply fine' },
        ],
        [{ id: 'fix', agent: 'DataAnalyst', instruction: '/reply fixed', depends_on: ['fine'] }],
      )}`,
    );
    expect(done.status).toBe('completed');
    const p = await planOf(sid, runId);
    expect(p).toMatchObject({ status: 'completed', recoveries: 1 });
    expect(p.tasks.map((x) => [x.id, x.status, x.error?.code ?? null])).toEqual([
      ['broken', 'skipped', 'REPLANNED'],
      ['after', 'skipped', 'DEPENDENCY_FAILED'],
      ['fine', 'completed', null],
      ['fix', 'completed', null],
    ]);
    expect(p.tasks[0].attempt).toBe(3);
  });

  it('fail_plan stops the plan: the rest is skipped or cancelled', async () => {
    const { sid, runId, done } = await run(
      `go\n${plan([
        { id: 'bad', agent: 'DataAnalyst', instruction: '/fail stop', on_failure: 'fail_plan' },
        { id: 'later', agent: 'DataAnalyst', instruction: '/reply x', depends_on: ['bad'] },
      ])}`,
    );
    expect(done.status).toBe('failed');
    const p = await planOf(sid, runId);
    expect(p.tasks.map((x) => x.status)).toEqual(['failed', 'skipped']);
  });

  it('serialises tasks whose writes overlap', async () => {
    const { sid, runId, done } = await run(
      `go\n${plan([
        { id: 'w1', agent: 'DataAnalyst', instruction: '/reply one', writes: ['docs/**'] },
        { id: 'w2', agent: 'DataAnalyst', instruction: '/reply two', writes: ['docs/a.md'] },
        { id: 'free', agent: 'DataAnalyst', instruction: '/reply three', writes: ['src/x.ts'] },
      ])}`,
    );
    expect(done.status).toBe('completed');
    const [w1, w2, free] = (await planOf(sid, runId)).tasks;
    expect(Date.parse(w2.started_at!)).toBeGreaterThanOrEqual(Date.parse(w1.finished_at!));
    // Unrelated writes start at once, with the first.
    expect(free.started_at).toBe(w1.started_at);
  });

  it('cancelling the orchestration run cancels its running tasks within 5 s', async () => {
    const { id: sid } = await orchestrated();
    const sent = await sendMessage(t.http, alice, projectId, sid, {
      content: `go\n${plan([
        // The coder parks on its write's approval: the task stays running.
        {
          id: 'slow',
          agent: 'CodeAssistant',
          instruction: '/tool write_file {"path": "p.txt", "content": "x"}',
        },
        { id: 'next', agent: 'DataAnalyst', instruction: '/reply n', depends_on: ['slow'] },
      ])}`,
    });
    let child = '';
    await waitFor('the task to park', async () => {
      const res = await t.http.get(sessionUrl(sid, `/runs/${sent.run.id}/plan`)).set(alice.auth);
      if (res.status !== 200) return false;
      child = (res.body as PlanView).tasks[0].child_run_id ?? '';
      if (!child) return false;
      const r = await t.http
        .get(sessionUrl(sid, `/runs/${child}`))
        .set(alice.auth)
        .expect(200);
      return r.body.status === 'awaiting_approval';
    });
    await t.http
      .post(sessionUrl(sid, `/runs/${sent.run.id}/cancel`))
      .set(alice.auth)
      .expect(202);
    await waitForRun(t.http, alice, projectId, sid, child, ['cancelled'], 5_000);
    await waitFor(
      'the plan to be cancelled',
      async () => (await planOf(sid, sent.run.id)).status === 'cancelled',
    );
    const p = await planOf(sid, sent.run.id);
    expect(p.tasks.map((x) => x.status)).toEqual(['cancelled', 'cancelled']);
    // The child's pending approval went with it.
    const approvals = await t.http
      .get(`/v1/my/projects/${projectId}/approvals`)
      .query({ session_id: sid, status: 'pending' })
      .set(alice.auth)
      .expect(200);
    expect(approvals.body.items).toHaveLength(0);
  });

  it('waits for plan approval when the project asks: approve, edit (validated), reject', async () => {
    const gated = await createProject(t.http, alice, 'gated');
    await t.http
      .patch(`/v1/my/projects/${gated}`)
      .set(alice.auth)
      .send({ settings: { require_plan_approval: true } })
      .expect(200);
    const base = `/v1/my/projects/${gated}`;
    const two: Task[] = [
      { id: 'p', agent: 'DataAnalyst', instruction: '/reply pee' },
      { id: 'q', agent: 'DataAnalyst', instruction: '/reply queue' },
    ];
    const start = async () => {
      const sid = (
        await t.http
          .post(`${base}/sessions`)
          .set(alice.auth)
          .send({ mode: 'orchestrated' })
          .expect(201)
      ).body.id as string;
      const sent = await sendMessage(t.http, alice, gated, sid, { content: `go\n${plan(two)}` });
      await waitForRun(t.http, alice, gated, sid, sent.run.id, ['awaiting_approval']);
      const list = await t.http
        .get(`${base}/approvals`)
        .query({ session_id: sid, status: 'pending' })
        .set(alice.auth)
        .expect(200);
      const [approval] = list.body.items as {
        id: string;
        kind: string;
        args: { tasks: Task[] };
        args_digest: string;
      }[];
      expect(approval).toMatchObject({ kind: 'plan' });
      expect(approval.args.tasks.map((x) => x.id)).toEqual(['p', 'q']);
      // Nothing ran yet.
      expectProblem(
        await t.http.get(`${base}/sessions/${sid}/runs/${sent.run.id}/plan`).set(alice.auth),
        404,
      );
      return { sid, runId: sent.run.id, approval };
    };
    const decide = (id: string, action: string, body: Record<string, unknown>) =>
      t.http.post(`${base}/approvals/${id}/${action}`).set(alice.auth).send(body);

    const approved = await start();
    await decide(approved.approval.id, 'approve', {
      args_digest: approved.approval.args_digest,
    }).expect(200);
    expect((await waitForRun(t.http, alice, gated, approved.sid, approved.runId)).status).toBe(
      'completed',
    );

    const edited = await start();
    // An edit is validated like a plan: a cycle is refused, nothing is decided.
    expectProblem(
      await decide(edited.approval.id, 'approve', {
        args_digest: edited.approval.args_digest,
        edited_args: {
          tasks: [
            { ...two[0], depends_on: ['q'] },
            { ...two[1], depends_on: ['p'] },
          ],
        },
      }),
      422,
      'APPROVAL_EDIT_REFUSED',
    );
    await decide(edited.approval.id, 'approve', {
      args_digest: edited.approval.args_digest,
      edited_args: { tasks: [two[1]] },
    }).expect(200);
    expect((await waitForRun(t.http, alice, gated, edited.sid, edited.runId)).status).toBe(
      'completed',
    );
    const editedPlan = (
      await t.http
        .get(`${base}/sessions/${edited.sid}/runs/${edited.runId}/plan`)
        .set(alice.auth)
        .expect(200)
    ).body as PlanView;
    expect(editedPlan.tasks.map((x) => [x.id, x.status])).toEqual([['q', 'completed']]);

    const rejected = await start();
    await decide(rejected.approval.id, 'reject', {
      args_digest: rejected.approval.args_digest,
      reason: 'not now',
    }).expect(200);
    const done = await waitForRun(t.http, alice, gated, rejected.sid, rejected.runId);
    expect(done).toMatchObject({ status: 'failed', error: { code: 'PLAN_REJECTED' } });
  });

  it('answers 404 for another user’s plan and 400 for a bad session mode', async () => {
    const { sid, runId } = await run(
      `go\n${plan([
        { id: 'a', agent: 'DataAnalyst', instruction: '/reply a' },
        { id: 'b', agent: 'DataAnalyst', instruction: '/reply b' },
      ])}`,
    );
    expectProblem(await t.http.get(sessionUrl(sid, `/runs/${runId}/plan`)).set(bob.auth), 404);
    const bobs = await createProject(t.http, bob, 'bobs');
    expectProblem(
      await t.http.get(`/v1/my/projects/${bobs}/sessions/${sid}/runs/${runId}/plan`).set(bob.auth),
      404,
    );
    expectProblem(
      await t.http
        .post(`/v1/my/projects/${projectId}/sessions`)
        .set(alice.auth)
        .send({ mode: 'chaos' }),
      400,
    );
  });
});
