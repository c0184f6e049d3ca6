import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestApp, registerUser, type TestApp, type TestUser } from '../support/test-app';
import { withDeadline } from '../support/child-process';
import { createProject, createSession, sendMessage, waitForRun } from '../support/sessions-helpers';
import { WorkerFleet, workerEnvFor } from '../support/worker-fleet';
import { faultMetrics, RunsDb } from '../support/fault-support';
import { TEST_REDIS_URL } from '../support/test-env';

/*
 * An approved call killed (SIGKILL) while it runs: the worker that resumes the run on the approval
 * dies at each point of the approved step in turn (journalled as started with its plan, about to
 * write, written and not journalled); the next worker takes the step over on the same approval,
 * never parks it again, and the change is applied exactly once, with the approved (edited)
 * arguments. A read that needed approval is re-run on its approval after a kill, not re-asked.
 */
const POINTS = ['agent:tool-started', 'workspace:before-write', 'workspace:written'];

describe('kill points of an approved call (fault)', () => {
  let t: TestApp;
  let db: RunsDb;
  let user: TestUser;
  let fleet: WorkerFleet;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'api' } });
    db = new RunsDb(t.config.databaseUrl);
    user = await registerUser(t.http);
    fleet = new WorkerFleet({
      env: workerEnvFor(t, TEST_REDIS_URL, { RUN_JOB_LOCK_MS: '2000', LOG_LEVEL: 'warn' }),
    });
  }, 120_000);

  afterAll(async () => {
    await fleet?.destroy().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await t?.close().catch(() => undefined);
  }, 60_000);

  const approvalOf = async (projectId: string, sid: string) =>
    (
      await t.http
        .get(`/v1/my/projects/${projectId}/approvals`)
        .query({ session_id: sid })
        .set(user.auth)
        .expect(200)
    ).body.items[0] as { id: string; args_digest: string; status: string };

  it(
    'applies an approved (edited) change exactly once though its worker dies at each point',
    async () => {
      const projectId = await createProject(t.http, user, 'approved-kills');
      // Reads need approval too in this project (a read interrupted must not be re-asked).
      await t.http
        .patch(`/v1/my/projects/${projectId}`)
        .set(user.auth)
        .send({ settings: { approval_tools: ['read_file'] } })
        .expect(200);
      const root = join(t.config.workspace.dir, projectId);
      const figures: Record<string, unknown>[] = [];

      for (const point of POINTS) {
        const sid = await createSession(t.http, user, projectId, { agent: 'CodeAssistant' });
        const path = `out/${point.replace(/\W/g, '-')}.txt`;
        // The first worker parks the run (it passes none of the points while parking)...
        const first = await fleet.spawn(0, true, { CODELAB_CRASH_AT: point });
        const { run } = await sendMessage(t.http, user, projectId, sid, {
          content: [
            'write then read',
            `/tool write_file ${JSON.stringify({ path, content: 'asked' })}`,
            `/tool read_file ${JSON.stringify({ path })}`,
          ].join('\n'),
        });
        await waitForRun(t.http, user, projectId, sid, run.id, ['awaiting_approval']);
        const write = await approvalOf(projectId, sid);
        // ...and dies at the point once the user approved an edit.
        await t.http
          .post(`/v1/my/projects/${projectId}/approvals/${write.id}/approve`)
          .set(user.auth)
          .send({ args_digest: write.args_digest, edited_args: { path, content: 'edited' } })
          .expect(200);
        const code = await withDeadline(`the worker to die at ${point}`, first.app.exited, 60_000);
        expect({ point, signal: first.app.child.signalCode, code }).toEqual({
          point,
          signal: 'SIGKILL',
          code: null,
        });
        // The next worker takes the approved step over, then the read parks for its approval.
        await fleet.spawn(0, true);
        await waitForRun(t.http, user, projectId, sid, run.id, ['awaiting_approval'], 60_000);
        const read = (
          await t.http
            .get(`/v1/my/projects/${projectId}/approvals`)
            .query({ session_id: sid, status: 'pending' })
            .set(user.auth)
            .expect(200)
        ).body.items[0] as { id: string; args_digest: string };
        await t.http
          .post(`/v1/my/projects/${projectId}/approvals/${read.id}/approve`)
          .set(user.auth)
          .send({ args_digest: read.args_digest })
          .expect(200);
        const done = await waitForRun(t.http, user, projectId, sid, run.id, undefined, 60_000);
        await fleet.kill(0);

        const steps = await db.query<{
          seq: number;
          name: string;
          status: string;
          attempts: number;
          args: unknown;
        }>(
          'select seq, name, status, attempts, args from run_steps where run_id = $1 order by seq',
          [run.id],
        );
        const approvals = await db.query<{ status: string }>(
          'select status from approvals where run_id = $1 order by step_seq',
          [run.id],
        );
        figures.push({
          point,
          status: done.status,
          steps: steps.map((s) => `${s.seq}:${s.name}:${s.status}:x${s.attempts}`),
          approvals: approvals.map((a) => a.status),
        });
        expect(done.status).toBe('completed');
        // Exactly one approval per call (never re-asked), both approved.
        expect(approvals.map((a) => a.status)).toEqual(['approved', 'approved']);
        const writeStep = steps.find((s) => s.name === 'write_file')!;
        expect(writeStep).toMatchObject({ status: 'succeeded', args: { path, content: 'edited' } });
        expect(steps.find((s) => s.name === 'read_file')).toMatchObject({ status: 'succeeded' });
        // Applied once, with the edited arguments.
        expect(readFileSync(join(root, path), 'utf8')).toBe('edited');
        expect(existsSync(join(root, 'out'))).toBe(true);
      }
      faultMetrics('approval-kill-points', { points: POINTS, figures });
    },
    10 * 60_000,
  );
});
