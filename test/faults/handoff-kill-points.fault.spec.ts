import { createTestApp, registerUser, type TestApp, type TestUser } from '../support/test-app';
import { waitFor } from '../support/child-process';
import { createProject, createSession, sendMessage, waitForRun } from '../support/sessions-helpers';
import { WorkerFleet, workerEnvFor } from '../support/worker-fleet';
import { expectKilledAt, faultMetrics, RunsDb } from '../support/fault-support';
import { TEST_REDIS_URL } from '../support/test-env';

/*
 * Hand-offs killed (SIGKILL) at each point of their sagas: a worker dies between the switch step
 * and the run's end, between the switch event's publication and its handling, between
 * AgentSwitched being committed and the continuation being enqueued; between a child being
 * started and enqueued, and between a child finishing and its parent resuming. A fresh worker
 * then finishes the work: exactly one switch, one continuation (one reply), one child, one resume
 * of the parent, in every case.
 */
const SWITCH_POINTS = [
  'agent:switch-requested',
  'events:published:agent.switch_requested',
  'events:handled:agent.switch_requested',
  'events:published:agent.switched',
  'events:handled:agent.switched',
];
const DELEGATE_POINTS = [
  'agent:delegated',
  'run:settled#2',
  'events:published:run.finished',
  'events:handled:run.finished',
];
const TOTAL = {
  type: 'object',
  required: ['total'],
  properties: { total: { type: 'integer' } },
};

describe('kill points of agent switches and delegations (fault)', () => {
  let t: TestApp;
  let db: RunsDb;
  let user: TestUser;
  let fleet: WorkerFleet;
  let projectId: string;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'api' } });
    db = new RunsDb(t.config.databaseUrl);
    user = await registerUser(t.http);
    projectId = await createProject(t.http, user, 'handoff-kills');
    fleet = new WorkerFleet({
      env: workerEnvFor(t, TEST_REDIS_URL, {
        RUN_JOB_LOCK_MS: '2000',
        RUN_RELAY_INTERVAL_MS: '300',
        LOG_LEVEL: 'warn',
      }),
    });
  }, 120_000);

  afterAll(async () => {
    await fleet?.destroy().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await t?.close().catch(() => undefined);
  }, 60_000);

  /** Starts a worker that dies at `point`, lets `send` start the work, waits for the death. */
  const dieAt = async (point: string, send: () => Promise<void>) => {
    const doomed = await fleet.spawn(0, true, { CODELAB_CRASH_AT: point });
    await send();
    await expectKilledAt(doomed, point);
    await fleet.spawn(0, true);
  };

  it(
    'applies a switch exactly once and answers with exactly one continuation',
    async () => {
      const figures: Record<string, unknown>[] = [];
      for (const point of SWITCH_POINTS) {
        const sid = await createSession(t.http, user, projectId, { agent: 'CodeAssistant' });
        let runId = '';
        let messageId = '';
        await dieAt(point, async () => {
          const sent = await sendMessage(t.http, user, projectId, sid, {
            content: 'docs please\n/switch DocumentWriter docs | Write them',
          });
          runId = sent.run.id;
          messageId = sent.message.id;
        });
        const first = await waitForRun(t.http, user, projectId, sid, runId, undefined, 60_000);
        let continuations: { id: string; status: string; executions: number }[] = [];
        await waitFor(
          `the continuation after a kill at ${point}`,
          async () => {
            continuations = await db.query(
              `select id, status, executions from runs
                where input_message_id = $1 and input -> 'switch' is not null`,
              [messageId],
            );
            return continuations.length > 0 && continuations.every((c) => c.status === 'completed');
          },
          60_000,
        );
        const switches = await db.query<{ to_agent_name: string; continuation_run_id: string }>(
          'select to_agent_name, continuation_run_id from agent_switches where run_id = $1',
          [runId],
        );
        const replies = await db.query<{ n: number }>(
          `select count(*)::int as n from messages where run_id = $1 and role = 'assistant'`,
          [continuations[0].id],
        );
        const [session] = await db.query<{ name: string }>(
          `select a.name from chat_sessions s join agents a on a.id = s.current_agent_id where s.id = $1`,
          [sid],
        );
        await fleet.kill(0);
        figures.push({
          point,
          first: first.status,
          continuations: continuations.length,
          switches: switches.length,
          replies: replies[0].n,
          continuation_executions: continuations[0].executions,
        });
        expect(first.status).toBe('completed');
        expect(continuations).toHaveLength(1);
        expect(switches).toEqual([
          { to_agent_name: 'DocumentWriter', continuation_run_id: continuations[0].id },
        ]);
        expect(replies[0].n).toBe(1);
        expect(session.name).toBe('DocumentWriter');
      }
      faultMetrics('handoff-kill-points-switch', { points: SWITCH_POINTS, figures });
    },
    10 * 60_000,
  );

  it(
    'starts exactly one child and resumes its parent exactly once',
    async () => {
      const figures: Record<string, unknown>[] = [];
      for (const point of DELEGATE_POINTS) {
        const sid = await createSession(t.http, user, projectId, { agent: 'CodeAssistant' });
        let runId = '';
        await dieAt(point, async () => {
          const sent = await sendMessage(t.http, user, projectId, sid, {
            content: `count\n/delegate DataAnalyst ${JSON.stringify({ instruction: '/reply {"total": 7}', returns: TOTAL })}`,
          });
          runId = sent.run.id;
        });
        const parent = await waitForRun(t.http, user, projectId, sid, runId, undefined, 60_000);
        const children = await db.query<{
          id: string;
          status: string;
          state: { result?: unknown };
        }>('select id, status, state from runs where parent_run_id = $1', [runId]);
        const resumed = await db.query<{ n: number }>(
          `select count(*)::int as n from domain_events where aggregate_id = $1 and type = 'run.resumed'`,
          [runId],
        );
        const results = await db.query<{ n: number }>(
          `select count(*)::int as n from messages where run_id = $1 and role = 'tool'`,
          [runId],
        );
        const answers = await db.query<{ n: number }>(
          `select count(*)::int as n from messages
            where run_id = $1 and role = 'assistant' and tool_calls is null`,
          [runId],
        );
        const [step] = await db.query<{
          status: string;
          result: { output?: { result?: unknown } };
        }>(`select status, result from run_steps where run_id = $1 and name = 'delegate'`, [runId]);
        await fleet.kill(0);
        figures.push({
          point,
          parent: parent.status,
          children: children.length,
          resumed: resumed[0].n,
          tool_results: results[0].n,
          answers: answers[0].n,
        });
        expect(parent.status).toBe('completed');
        expect(children).toHaveLength(1);
        expect(children[0]).toMatchObject({ status: 'completed', state: { result: { total: 7 } } });
        // Resumed at most once (not at all when the child was done before the parent parked).
        expect(resumed[0].n).toBeLessThanOrEqual(1);
        expect(step).toMatchObject({
          status: 'succeeded',
          result: { output: { result: { total: 7 } } },
        });
        expect(results[0].n).toBe(1);
        expect(answers[0].n).toBe(1);
      }
      faultMetrics('handoff-kill-points-delegate', { points: DELEGATE_POINTS, figures });
    },
    10 * 60_000,
  );
});
