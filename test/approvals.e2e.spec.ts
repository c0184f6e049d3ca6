import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { CommandBus } from '@nestjs/cqrs';
import { ResumeRunCommand } from '@codelab/runs';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';
import { waitFor } from './support/child-process';
import { listenUrl, TestSseClient } from './support/sse-client';

interface ApprovalView {
  id: string;
  run_id: string;
  session_id: string;
  step_seq: number;
  kind: string;
  tool: string;
  args: Record<string, unknown>;
  args_digest: string;
  status: string;
  version: number;
  deadline_at: string;
  default_action: string;
  decided_by: string | null;
  decision_reason: string | null;
  edited_args: Record<string, unknown> | null;
  edited_digest: string | null;
}

interface StepView {
  seq: number;
  name: string;
  status: string;
  args: Record<string, unknown>;
  error: { code: string; message: string } | null;
}

const tool = (name: string, args: Record<string, unknown>) =>
  `/tool ${name} ${JSON.stringify(args)}`;

/** A human decides the calls an agent's policy marks for approval (API + in-process worker). */
describe('approvals (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let projectId: string;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'all', RUN_RELAY_INTERVAL_MS: '300' } });
    await t.app.listen(0, '127.0.0.1');
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
    projectId = await createProject(t.http, alice, 'approvals');
  });
  afterAll(async () => {
    await t.close();
  });

  const url = (rest = '') => `/v1/my/projects/${projectId}/approvals${rest}`;
  const root = () => join(t.config.workspace.dir, projectId);
  const sql = async <T>(query: string, params: unknown[] = []): Promise<T> =>
    (await t.app.get(MikroORM).em.fork().getConnection().execute(query, params)) as T;

  /** The coder (writes need approval by its role) is asked to make one call; it parks. */
  const parkOn = async (call: string) => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, { content: `do it\n${call}` });
    await waitForRun(t.http, alice, projectId, sid, run.id, ['awaiting_approval']);
    const list = await t.http
      .get(url())
      .query({ session_id: sid, status: 'pending' })
      .set(alice.auth)
      .expect(200);
    expect(list.body.items).toHaveLength(1);
    return { sid, runId: run.id, approval: list.body.items[0] as ApprovalView };
  };
  const stepsOf = async (sid: string, runId: string) =>
    (
      await t.http
        .get(`/v1/my/projects/${projectId}/sessions/${sid}/runs/${runId}/steps`)
        .set(alice.auth)
        .expect(200)
    ).body.items as StepView[];
  const decide = (id: string, verb: 'approve' | 'reject', body: Record<string, unknown>) =>
    t.http
      .post(url(`/${id}/${verb}`))
      .set(alice.auth)
      .send(body);

  it('opens an approval with the exact arguments and their digest; approving runs the call once', async () => {
    const { sid, runId, approval } = await parkOn(
      tool('write_file', { path: 'approved.txt', content: 'yes' }),
    );
    expect(approval).toMatchObject({
      run_id: runId,
      step_seq: 2,
      kind: 'tool',
      tool: 'write_file',
      args: { path: 'approved.txt', content: 'yes' },
      status: 'pending',
      version: 1,
      default_action: 'reject',
    });
    expect(approval.args_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(Date.parse(approval.deadline_at) - Date.now()).toBeGreaterThan(250_000);
    // Nothing ran yet.
    expect(existsSync(join(root(), 'approved.txt'))).toBe(false);

    const approved = await decide(approval.id, 'approve', { args_digest: approval.args_digest });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'approved', decided_by: 'user', version: 2 });
    const done = await waitForRun(t.http, alice, projectId, sid, runId);
    expect(done.status).toBe('completed');
    expect(await readFile(join(root(), 'approved.txt'), 'utf8')).toBe('yes');
    const steps = await stepsOf(sid, runId);
    expect(steps[1]).toMatchObject({ name: 'write_file', status: 'succeeded' });
    expect(
      (
        await sql<{ n: number }[]>(
          `select count(*)::int as n from run_steps where run_id = ? and name = 'write_file'`,
          [runId],
        )
      )[0].n,
    ).toBe(1);
    // A second decision is a conflict, with the current state.
    const again = await decide(approval.id, 'approve', { args_digest: approval.args_digest });
    expectProblem(again, 409, 'APPROVAL_NOT_PENDING');
  });

  it('streams approval_requested and approval_resolved, then the resumed run', async () => {
    const { sid, runId, approval } = await parkOn(
      tool('write_file', { path: 'streamed.txt', content: 's' }),
    );
    const sse = await new TestSseClient(
      `${listenUrl(t.app.getHttpServer())}/v1/my/projects/${projectId}/sessions/${sid}/events?from=start`,
      alice.auth,
    ).open();
    try {
      const requested = await sse.waitForEvent('approval_requested');
      expect(requested.json.payload).toMatchObject({
        approval: { id: approval.id, args_digest: approval.args_digest, status: 'pending' },
      });
      await decide(approval.id, 'approve', { args_digest: approval.args_digest }).expect(200);
      await sse.waitForEvent('run_completed');
      const after = sse.events.slice(sse.events.findIndex((e) => e.event === 'approval_requested'));
      const types = after.map((e) => e.event);
      expect(types.indexOf('approval_resolved')).toBeGreaterThan(0);
      expect(types.lastIndexOf('run_started')).toBeGreaterThan(types.indexOf('approval_resolved'));
      const resolved = after.find((e) => e.event === 'approval_resolved')!;
      expect(resolved.json.payload).toMatchObject({
        approval: { id: approval.id, status: 'approved', decided_by: 'user' },
      });
      expect(resolved.json.run_id).toBe(runId);
    } finally {
      sse.close();
    }
  });

  it('hands a decision that came before its run finished parking over once it has parked', async () => {
    const { sid, runId, approval } = await parkOn(
      tool('write_file', { path: 'early.txt', content: 'early' }),
    );
    // As if the worker were still settling the park when the user decided.
    await sql(`update runs set status = 'running' where id = ?`, [runId]);
    await decide(approval.id, 'approve', { args_digest: approval.args_digest }).expect(200);
    const [held] = await sql<{ resumed_at: Date | null }[]>(
      'select resumed_at from approvals where id = ?',
      [approval.id],
    );
    expect(held.resumed_at).toBeNull();
    await sql(`update runs set status = 'awaiting_approval' where id = ?`, [runId]);
    // The sweeper hands it over (the run.parked event does it when the park really commits).
    expect((await waitForRun(t.http, alice, projectId, sid, runId, undefined, 15_000)).status).toBe(
      'completed',
    );
    expect(await readFile(join(root(), 'early.txt'), 'utf8')).toBe('early');
  });

  it('tells the model about a rejection however the run comes back (a stale resume)', async () => {
    const { sid, runId, approval } = await parkOn(
      tool('write_file', { path: 'stale.txt', content: 'no' }),
    );
    // Decided, and marked handed over, but the run was never resumed with the resolution...
    await sql(
      `update approvals set status = 'rejected', decided_by = 'user', decided_at = now(),
         resumed_at = now(), decision_reason = 'stale' where id = ?`,
      [approval.id],
    );
    // ...then something else resumes it (e.g. a repeated resume of an earlier decision).
    await t.app.get(CommandBus).execute(new ResumeRunCommand(runId, [], 'test'));
    expect((await waitForRun(t.http, alice, projectId, sid, runId)).status).toBe('completed');
    expect((await stepsOf(sid, runId))[1]).toMatchObject({
      status: 'failed',
      error: { code: 'REJECTED_BY_USER' },
    });
    expect(existsSync(join(root(), 'stale.txt'))).toBe(false);
  });

  it('refuses text PostgreSQL cannot store with 400, never a 5xx', async () => {
    const { approval } = await parkOn(tool('write_file', { path: 'nul.txt', content: 'n' }));
    for (const body of [
      { args_digest: approval.args_digest, reason: 'a\u0000b' },
      { args_digest: approval.args_digest, edited_args: { path: 'nul.txt', content: 'x\u0000' } },
      { args_digest: approval.args_digest, edited_args: { path: 'nul.txt', content: '\ud800' } },
    ])
      expectProblem(await decide(approval.id, 'approve', body), 400, 'VALIDATION_FAILED');
    expect((await t.http.get(url(`/${approval.id}`)).set(alice.auth)).body.status).toBe('pending');
  });

  it('tells the model about a rejection (with the reason) and the run goes on', async () => {
    const { sid, runId, approval } = await parkOn(
      tool('write_file', { path: 'rejected.txt', content: 'no' }),
    );
    const rejected = await decide(approval.id, 'reject', {
      args_digest: approval.args_digest,
      reason: 'not that file',
    });
    expect(rejected.body).toMatchObject({ status: 'rejected', decision_reason: 'not that file' });
    expect((await waitForRun(t.http, alice, projectId, sid, runId)).status).toBe('completed');
    expect(existsSync(join(root(), 'rejected.txt'))).toBe(false);
    const steps = await stepsOf(sid, runId);
    expect(steps[1]).toMatchObject({
      status: 'failed',
      error: { code: 'REJECTED_BY_USER' },
    });
    expect(steps[1].error?.message).toContain('not that file');
    const messages = (
      await t.http
        .get(`/v1/my/projects/${projectId}/sessions/${sid}/messages`)
        .set(alice.auth)
        .expect(200)
    ).body.items as { role: string; content: string }[];
    expect(messages.find((m) => m.role === 'tool')?.content).toContain('REJECTED_BY_USER');
  });

  it('runs an edit within the policy, and refuses one that widens it with 422', async () => {
    const { sid, runId, approval } = await parkOn(
      tool('write_file', { path: 'draft.txt', content: 'first' }),
    );
    for (const edited_args of [
      { path: '.env', content: 'SECRET=1' }, // off limits to agents
      { path: 'draft.txt' }, // not the tool's schema
      { path: '../outside.txt', content: 'x' }, // not a workspace path
    ])
      expectProblem(
        await decide(approval.id, 'approve', { args_digest: approval.args_digest, edited_args }),
        422,
        'APPROVAL_EDIT_REFUSED',
      );
    expect(existsSync(join(root(), '.env'))).toBe(false);
    const edited = await decide(approval.id, 'approve', {
      args_digest: approval.args_digest,
      edited_args: { path: 'draft.txt', content: 'edited by the user' },
    });
    expect(edited.status).toBe(200);
    expect(edited.body.edited_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(edited.body.edited_digest).not.toBe(approval.args_digest);
    expect((await waitForRun(t.http, alice, projectId, sid, runId)).status).toBe('completed');
    expect(await readFile(join(root(), 'draft.txt'), 'utf8')).toBe('edited by the user');
    const steps = await stepsOf(sid, runId);
    // The journal records what ran: the edited arguments.
    expect(steps[1]).toMatchObject({
      status: 'succeeded',
      args: { path: 'draft.txt', content: 'edited by the user' },
    });
  });

  it('refuses a stale digest with 409, and of two concurrent approvals exactly one wins', async () => {
    const { sid, runId, approval } = await parkOn(
      tool('write_file', { path: 'race.txt', content: 'once' }),
    );
    const stale = await decide(approval.id, 'approve', { args_digest: 'f'.repeat(64) });
    expectProblem(stale, 409, 'APPROVAL_DIGEST_MISMATCH');
    expect(stale.body.approval).toMatchObject({ id: approval.id, status: 'pending' });
    const results = await Promise.all(
      [1, 2, 3].map(() => decide(approval.id, 'approve', { args_digest: approval.args_digest })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    expect((await waitForRun(t.http, alice, projectId, sid, runId)).status).toBe('completed');
    expect(await readFile(join(root(), 'race.txt'), 'utf8')).toBe('once');
  });

  it('answers a retried decision with the same Idempotency-Key as the first time', async () => {
    const { sid, runId, approval } = await parkOn(
      tool('write_file', { path: 'retry.txt', content: 'r' }),
    );
    const first = await decide(approval.id, 'reject', { args_digest: approval.args_digest })
      .set('Idempotency-Key', 'decision-1')
      .expect(200);
    const retry = await decide(approval.id, 'reject', { args_digest: approval.args_digest })
      .set('Idempotency-Key', 'decision-1')
      .expect(200);
    expect(retry.body).toEqual(first.body);
    expectProblem(
      await decide(approval.id, 'reject', { args_digest: approval.args_digest }).set(
        'Idempotency-Key',
        'decision-2',
      ),
      409,
      'APPROVAL_NOT_PENDING',
    );
    await waitForRun(t.http, alice, projectId, sid, runId);
  });

  it('applies the default action at the deadline: reject is `expired`, told as such', async () => {
    const { sid, runId, approval } = await parkOn(
      tool('write_file', { path: 'late.txt', content: 'late' }),
    );
    // Its deadline passes now (the job is due later: the sweeper applies it).
    await sql(`update approvals set deadline_at = now() where id = ?`, [approval.id]);
    const done = await waitForRun(t.http, alice, projectId, sid, runId, undefined, 15_000);
    expect(done.status).toBe('completed');
    const decided = (
      await t.http
        .get(url(`/${approval.id}`))
        .set(alice.auth)
        .expect(200)
    ).body as ApprovalView;
    expect(decided).toMatchObject({ status: 'expired', decided_by: 'timeout' });
    expect((await stepsOf(sid, runId))[1]).toMatchObject({
      status: 'failed',
      error: { code: 'APPROVAL_EXPIRED' },
    });
    expect(existsSync(join(root(), 'late.txt'))).toBe(false);
  });

  it('applies a default approve at the deadline through its delayed job', async () => {
    await t.http
      .patch(`/v1/my/projects/${projectId}`)
      .set(alice.auth)
      .send({
        settings: {
          approval_deadline_seconds: 10,
          approval_default_actions: { tool: 'approve', command: 'reject' },
        },
      })
      .expect(200);
    try {
      const { sid, runId, approval } = await parkOn(
        tool('write_file', { path: 'auto.txt', content: 'auto' }),
      );
      expect(approval.default_action).toBe('approve');
      const deadline = Date.parse(approval.deadline_at);
      const done = await waitForRun(t.http, alice, projectId, sid, runId, undefined, 25_000);
      expect(done.status).toBe('completed');
      const decided = (
        await t.http
          .get(url(`/${approval.id}`))
          .set(alice.auth)
          .expect(200)
      ).body as ApprovalView & { decided_at: string };
      expect(decided).toMatchObject({ status: 'approved', decided_by: 'timeout' });
      // Within deadline + 5 s.
      expect(Date.parse(decided.decided_at) - deadline).toBeLessThan(5_000);
      expect(await readFile(join(root(), 'auto.txt'), 'utf8')).toBe('auto');
    } finally {
      await t.http
        .patch(`/v1/my/projects/${projectId}`)
        .set(alice.auth)
        .send({
          settings: {
            approval_deadline_seconds: 300,
            approval_default_actions: { tool: 'reject', command: 'reject' },
          },
        })
        .expect(200);
    }
  });

  it('cancels a pending approval with its run; a decision on it is a 409', async () => {
    const { sid, runId, approval } = await parkOn(
      tool('write_file', { path: 'orphan.txt', content: 'o' }),
    );
    await t.http
      .post(`/v1/my/projects/${projectId}/sessions/${sid}/runs/${runId}/cancel`)
      .set(alice.auth)
      .expect(202);
    await waitFor(
      'the approval cancelled',
      async () =>
        (await t.http.get(url(`/${approval.id}`)).set(alice.auth)).body.status === 'cancelled',
      15_000,
    );
    const decided = (await t.http.get(url(`/${approval.id}`)).set(alice.auth)).body;
    expect(decided).toMatchObject({ status: 'cancelled', decided_by: 'system' });
    expectProblem(
      await decide(approval.id, 'approve', { args_digest: approval.args_digest }),
      409,
      'APPROVAL_NOT_PENDING',
    );
    expect(existsSync(join(root(), 'orphan.txt'))).toBe(false);
  });

  it('cancels pending approvals when their session is archived or their agent deleted', async () => {
    const archived = await parkOn(tool('write_file', { path: 'archived.txt', content: 'a' }));
    await t.http
      .delete(`/v1/my/projects/${projectId}/sessions/${archived.sid}`)
      .set(alice.auth)
      .expect(204);
    await waitFor(
      "the archived session's approval cancelled",
      async () =>
        (await t.http.get(url(`/${archived.approval.id}`)).set(alice.auth)).body.status ===
        'cancelled',
      15_000,
    );
    expect((await waitForRun(t.http, alice, projectId, archived.sid, archived.runId)).status).toBe(
      'cancelled',
    );

    // An agent of its own, deleted while its call waits.
    const agentId = (
      await t.http
        .post(`/v1/my/projects/${projectId}/agents`)
        .set(alice.auth)
        .send({ name: 'Doomed', role: 'coder' })
        .expect(201)
    ).body.id as string;
    const sid = await createSession(t.http, alice, projectId, { agent: 'Doomed' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: `do it\n${tool('write_file', { path: 'doomed.txt', content: 'd' })}`,
    });
    await waitForRun(t.http, alice, projectId, sid, run.id, ['awaiting_approval']);
    const pending = (await t.http.get(url()).query({ session_id: sid }).set(alice.auth).expect(200))
      .body.items[0] as ApprovalView;
    await t.http
      .delete(`/v1/my/projects/${projectId}/agents/${agentId}`)
      .set(alice.auth)
      .expect(204);
    await waitFor(
      "the deleted agent's approval cancelled",
      async () =>
        (await t.http.get(url(`/${pending.id}`)).set(alice.auth)).body.status === 'cancelled',
      15_000,
    );
    expect(existsSync(join(root(), 'doomed.txt'))).toBe(false);
  });

  it("is a 404 on every route for another user's approval, and lists the audit trail", async () => {
    const { approval } = await parkOn(tool('write_file', { path: 'mine.txt', content: 'm' }));
    const bobProject = await createProject(t.http, bob, 'bob');
    const checks = [
      t.http.get(url()).set(bob.auth),
      t.http.get(url(`/${approval.id}`)).set(bob.auth),
      t.http
        .post(url(`/${approval.id}/approve`))
        .set(bob.auth)
        .send({ args_digest: approval.args_digest }),
      t.http
        .post(url(`/${approval.id}/reject`))
        .set(bob.auth)
        .send({ args_digest: approval.args_digest }),
      // Bob's own project, Alice's approval id.
      t.http.get(`/v1/my/projects/${bobProject}/approvals/${approval.id}`).set(bob.auth),
      t.http
        .post(`/v1/my/projects/${bobProject}/approvals/${approval.id}/approve`)
        .set(bob.auth)
        .send({ args_digest: approval.args_digest }),
    ];
    for (const res of await Promise.all(checks)) expectProblem(res, 404, 'NOT_FOUND');
    expect(
      (
        await t.http
          .get(url(`/${approval.id}`))
          .set(alice.auth)
          .expect(200)
      ).body.status,
    ).toBe('pending');
    // Bad input is a 400.
    expectProblem(
      await decide(approval.id, 'approve', { args_digest: 'nope' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(await t.http.get(url('/not-a-uuid')).set(alice.auth), 400);
    expectProblem(await t.http.get(url()).query({ status: 'maybe' }).set(alice.auth), 400);
    // Newest first, keyset pages, decided ones included.
    const first = await t.http.get(url()).query({ limit: 3 }).set(alice.auth).expect(200);
    expect(first.body.items).toHaveLength(3);
    expect(first.body.items[0].id).toBe(approval.id);
    const rest = await t.http
      .get(url())
      .query({ limit: 100, cursor: first.body.next_cursor })
      .set(alice.auth)
      .expect(200);
    const statuses = [...first.body.items, ...rest.body.items].map((a: ApprovalView) => a.status);
    expect(new Set(statuses)).toEqual(
      new Set(['pending', 'approved', 'rejected', 'expired', 'cancelled']),
    );
  });
});
