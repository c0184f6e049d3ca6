import { createTestApp, registerUser, type TestApp, type TestUser } from '../support/test-app';
import { waitFor } from '../support/child-process';
import { createProject, sendMessage, waitForRun } from '../support/sessions-helpers';
import { WorkerFleet, workerEnvFor } from '../support/worker-fleet';
import { expectKilledAt, faultMetrics, RunsDb } from '../support/fault-support';
import { TEST_REDIS_URL } from '../support/test-env';

/*
 * An 8-task plan while its workers are killed (SIGKILL): at the orchestrator's points (the plan
 * stored, a task's end handled by the scheduler, a run settled) and at random while tasks run on
 * two busy workers. Replacement workers finish it: the plan completes, every task has exactly one
 * result and one child answer, and the orchestrator writes exactly one final answer.
 */
const POINTS = ['orchestration:planned', 'events:handled:run.finished#3', 'run:settled#5'];
const TASKS = 8;

const eightTasks = () =>
  `/plan ${JSON.stringify({
    decision: 'plan',
    tasks: Array.from({ length: TASKS }, (_, i) => ({
      id: `t${i + 1}`,
      agent: i % 2 ? 'DataAnalyst' : 'DocumentWriter',
      instruction: `part ${i + 1}\n/reply result number ${i + 1} with a few words to stream`,
      depends_on: [],
    })),
  })}`;

describe('an 8-task plan under worker kills (fault)', () => {
  let t: TestApp;
  let db: RunsDb;
  let user: TestUser;
  let fleet: WorkerFleet;
  let projectId: string;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'api' } });
    db = new RunsDb(t.config.databaseUrl);
    user = await registerUser(t.http);
    projectId = await createProject(t.http, user, 'plan-kills');
    fleet = new WorkerFleet({
      env: workerEnvFor(t, TEST_REDIS_URL, {
        RUN_JOB_LOCK_MS: '2000',
        RUN_RELAY_INTERVAL_MS: '300',
        OFFLINE_LLM_TOKEN_DELAY_MS: '15',
        LOG_LEVEL: 'warn',
      }),
    });
  }, 120_000);

  afterAll(async () => {
    await fleet?.destroy().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await t?.close().catch(() => undefined);
  }, 60_000);

  const orchestrated = async () =>
    (
      await t.http
        .post(`/v1/my/projects/${projectId}/sessions`)
        .set(user.auth)
        .send({ mode: 'orchestrated' })
        .expect(201)
    ).body.id as string;

  /** What a finished plan left behind, and the checks that it happened once. */
  const verify = async (sid: string, runId: string, label: string) => {
    const done = await waitForRun(t.http, user, projectId, sid, runId, undefined, 120_000);
    const tasks = await db.query<{
      task_id: string;
      status: string;
      result: string | null;
      child_run_id: string;
    }>(
      `select t.task_id, t.status, t.result, t.child_run_id from plan_tasks t join plans p on p.id = t.plan_id
        where p.run_id = $1 order by t.position`,
      [runId],
    );
    const children = await db.query<{ id: string; status: string; answers: number }>(
      `select r.id, r.status,
          (select count(*)::int from messages m where m.run_id = r.id and m.role = 'assistant' and m.tool_calls is null) as answers
        from runs r where r.parent_run_id = $1`,
      [runId],
    );
    const [{ n: finals }] = await db.query<{ n: number }>(
      `select count(*)::int as n from messages where run_id = $1 and role = 'assistant'`,
      [runId],
    );
    const figure = {
      label,
      status: done.status,
      tasks: tasks.filter((x) => x.status === 'completed').length,
      children: children.length,
      answers: children.map((c) => c.answers),
      finals,
    };
    expect(done.status).toBe('completed');
    expect(tasks).toHaveLength(TASKS);
    for (const [i, task] of tasks.entries()) {
      expect(task.status).toBe('completed');
      expect(task.result).toBe(`result number ${i + 1} with a few words to stream`);
    }
    // One child per task (no task started twice), each answering once.
    expect(children).toHaveLength(TASKS);
    expect(new Set(tasks.map((x) => x.child_run_id)).size).toBe(TASKS);
    expect(children.every((c) => c.status === 'completed' && c.answers === 1)).toBe(true);
    expect(finals).toBe(1);
    return figure;
  };

  it(
    'completes the plan exactly once though a worker dies at each orchestrator point',
    async () => {
      const figures: Record<string, unknown>[] = [];
      for (const point of POINTS) {
        const doomed = await fleet.spawn(0, true, { CODELAB_CRASH_AT: point });
        const sid = await orchestrated();
        const { run } = await sendMessage(t.http, user, projectId, sid, {
          content: `build\n${eightTasks()}`,
        });
        await expectKilledAt(doomed, point);
        await fleet.spawn(0, true);
        figures.push(await verify(sid, run.id, point));
        await fleet.kill(0);
      }
      faultMetrics('plan-kill-points', { points: POINTS, figures });
    },
    10 * 60_000,
  );

  it(
    'completes the plan exactly once though both busy workers are killed mid-plan',
    async () => {
      await fleet.spawn(0, true);
      await fleet.spawn(1, true);
      const sid = await orchestrated();
      const { run } = await sendMessage(t.http, user, projectId, sid, {
        content: `build\n${eightTasks()}`,
      });
      // Kill each worker while tasks are running, then replace it.
      const killed: { slot: number; running_tasks: number }[] = [];
      for (const slot of [0, 1]) {
        let running = 0;
        await waitFor(
          `tasks running on the workers (kill ${slot + 1})`,
          async () => {
            const [{ n }] = await db.query<{ n: number }>(
              `select count(*)::int as n from runs where parent_run_id = $1 and status = 'running'`,
              [run.id],
            );
            running = n;
            return n > 0;
          },
          30_000,
        );
        killed.push({ slot, running_tasks: running });
        await fleet.kill(slot);
        await fleet.spawn(slot, true);
      }
      const figure = await verify(sid, run.id, 'mid-plan kills');
      faultMetrics('plan-mid-kills', { killed, ...figure });
    },
    10 * 60_000,
  );
  it(
    'a fail_plan failure stops a running sibling task at once',
    async () => {
      await fleet.spawn(0, true);
      const sid = await orchestrated();
      const long = Array.from({ length: 300 }, (_, i) => `w${i}`).join(' ');
      const { run } = await sendMessage(t.http, user, projectId, sid, {
        content: `go\n/plan ${JSON.stringify({
          decision: 'plan',
          tasks: [
            // Streams for about 4.5 s (300 tokens at 15 ms)...
            { id: 'slow', agent: 'DataAnalyst', instruction: `/reply ${long}`, depends_on: [] },
            // ...while this one fails at once, after the slow one started.
            {
              id: 'bad',
              agent: 'DocumentWriter',
              instruction: '/fail stop',
              on_failure: 'fail_plan',
              depends_on: [],
            },
          ],
        })}`,
      });
      const done = await waitForRun(t.http, user, projectId, sid, run.id, undefined, 60_000);
      const [slow] = await db.query<{ status: string; ran_ms: number }>(
        `select r.status, extract(epoch from r.finished_at - r.started_at) * 1000 as ran_ms
           from plan_tasks t join plans p on p.id = t.plan_id join runs r on r.id = t.child_run_id
          where p.run_id = $1 and t.task_id = 'slow'`,
        [run.id],
      );
      faultMetrics('plan-fail-stops-sibling', { status: done.status, slow });
      expect(done).toMatchObject({ status: 'failed', error: { code: 'PLAN_FAILED' } });
      expect(slow.status).toBe('cancelled');
      // Stopped by the cancel signal, well before its 4.5 s of streaming (or a 10 s heartbeat).
      expect(Number(slow.ran_ms)).toBeLessThan(3_000);
      await fleet.kill(0);
    },
    5 * 60_000,
  );
});
