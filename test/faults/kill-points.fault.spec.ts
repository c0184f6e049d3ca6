import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestApp, registerUser, type TestApp, type TestUser } from '../support/test-app';
import { withDeadline } from '../support/child-process';
import { createProject, createSession, sendMessage, waitForRun } from '../support/sessions-helpers';
import { WorkerFleet, workerEnvFor } from '../support/worker-fleet';
import { faultMetrics, RunsDb } from '../support/fault-support';
import { TEST_REDIS_URL } from '../support/test-env';

/*
 * One scripted multi-step run (reads, writes, a parallel turn) is killed with SIGKILL at 14 step
 * boundaries in turn: a worker started with CODELAB_CRASH_AT=<point> kills itself when it passes
 * that point (exactly like kill -9), the next worker resumes the run from its journal and dies at
 * the next point, and a last worker finishes it. Required: exactly one final reply, one message
 * per step, no finished step run again, every write applied at most once (a write interrupted
 * before it reported back is marked unknown_outcome, never re-applied), the journal complete.
 *
 * The job lock is 2 s here so each re-delivery takes ~3 s instead of the default ~7.
 */
const POINTS = [
  'run:claimed', // claimed, nothing journalled yet
  'agent:llm-started', // turn 1 journalled as started, model not called
  'agent:llm-finished', // turn 1 and its assistant message committed
  'agent:tool-executed', // read "a" ran, its result not journalled: it runs again
  'agent:tool-finished', // read "a" (re-run) committed
  'agent:llm-finished', // turn 3 (calls write k1) committed
  'agent:tool-executed', // write k1 applied, not journalled: unknown_outcome, not re-applied
  'agent:llm-started', // turn 5 started: re-run
  'agent:tool-started', // read "b" started: re-run
  'agent:tool-finished#2', // reads "b" and "c" committed
  'agent:tool-started', // write k2 started, not applied: unknown_outcome, never applied
  'agent:final', // the final answer committed, memory not stored
  'agent:remembered', // memory stored, run not completed
  'run:settled', // run completed, job not acknowledged
];

describe('kill points of a multi-step run (fault)', () => {
  let t: TestApp;
  let db: RunsDb;
  let user: TestUser;
  let fleet: WorkerFleet;
  const effects = mkdtempSync(join(tmpdir(), 'codelab-effects-'));

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'api' } });
    db = new RunsDb(t.config.databaseUrl);
    user = await registerUser(t.http);
    fleet = new WorkerFleet({
      env: workerEnvFor(t, TEST_REDIS_URL, {
        TEST_TOOLS_DIR: effects,
        RUN_JOB_LOCK_MS: '2000',
        // 14 kills of one run: more than the default dead-letter threshold (10).
        RUN_MAX_STALLS: '20',
        LOG_LEVEL: 'warn',
      }),
    });
  }, 120_000);

  afterAll(async () => {
    await fleet?.destroy().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await t?.close().catch(() => undefined);
    rmSync(effects, { recursive: true, force: true });
  }, 60_000);

  it(
    'survives a kill -9 at each of 14 step boundaries: one reply, no step twice, the journal complete',
    async () => {
      const projectId = await createProject(t.http, user, 'kill-points');
      const agents = (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(user.auth)).body
        .items as { id: string; name: string }[];
      const coder = agents.find((a) => a.name === 'CodeAssistant')!;
      await t.http
        .patch(`/v1/my/projects/${projectId}/agents/${coder.id}`)
        .set(user.auth)
        .send({ tools: ['test_read', 'test_write'], approval_tools: [] })
        .expect(200);
      const sid = await createSession(t.http, user, projectId, { agent: 'CodeAssistant' });
      const { run } = await sendMessage(t.http, user, projectId, sid, {
        content: [
          'read, write, read twice, write',
          '/tool test_read {"text":"a"}',
          '/tool test_write {"key":"k1"}',
          '/tool test_read {"text":"b"} && test_read {"text":"c"}',
          '/tool test_write {"key":"k2"}',
        ].join('\n'),
      });

      const killed: { point: string; atStep: number }[] = [];
      for (const point of POINTS) {
        const worker = await fleet.spawn(0, false, { CODELAB_CRASH_AT: point });
        const code = await withDeadline(`a worker to die at ${point}`, worker.app.exited, 60_000);
        expect({ point, signal: worker.app.child.signalCode, code }).toEqual({
          point,
          signal: 'SIGKILL',
          code: null,
        });
        const [{ n }] = await db.query<{ n: number }>(
          'select count(*)::int as n from run_steps where run_id = $1',
          [run.id],
        );
        killed.push({ point, atStep: n });
      }
      await fleet.spawn(0, true);
      const done = await waitForRun(t.http, user, projectId, sid, run.id, undefined, 60_000);

      const steps = await db.query<{
        seq: number;
        kind: string;
        name: string;
        status: string;
        attempts: number;
        message_id: string | null;
        args: { key?: string; text?: string } | null;
      }>(
        'select seq, kind, name, status, attempts, message_id, args from run_steps where run_id = $1 order by seq',
        [run.id],
      );
      const messages = await db.query<{
        role: string;
        step_seq: number | null;
        tool_calls: unknown;
      }>(`select role, step_seq, tool_calls from messages where session_id = $1 order by seq`, [
        sid,
      ]);
      const effectLines = readFileSync(join(effects, 'effects.log'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith(run.id));
      const [{ memories }] = await db.query<{ memories: number }>(
        'select count(*)::int as memories from agent_memories where id = $1',
        [run.id],
      );
      const [row] = await db.query<{ executions: number }>(
        'select executions from runs where id = $1',
        [run.id],
      );
      faultMetrics('kill-points', {
        points: POINTS.length,
        killed,
        status: done.status,
        executions: row.executions,
        steps: steps.map((s) => `${s.seq}:${s.kind}:${s.name}:${s.status}:x${s.attempts}`),
        effects: effectLines.map((l) => l.split(' ').slice(1).join(' ')),
        final_replies: messages.filter((m) => m.role === 'assistant' && m.tool_calls === null)
          .length,
        memories,
      });

      expect(done.status).toBe('completed');
      // Every kill happened (the run resumed each time), plus the finishing execution.
      expect(killed).toHaveLength(POINTS.length);
      expect(row.executions).toBeGreaterThanOrEqual(POINTS.length - 1);
      // The journal is complete: contiguous, every step finished, each with its message.
      expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i + 1));
      expect(steps.map((s) => [s.kind, s.name, s.status])).toEqual([
        ['llm', 'offline', 'succeeded'],
        ['tool', 'test_read', 'succeeded'],
        ['llm', 'offline', 'succeeded'],
        ['tool', 'test_write', 'unknown_outcome'],
        ['llm', 'offline', 'succeeded'],
        ['tool', 'test_read', 'succeeded'],
        ['tool', 'test_read', 'succeeded'],
        ['llm', 'offline', 'succeeded'],
        ['tool', 'test_write', 'unknown_outcome'],
        ['llm', 'offline', 'succeeded'],
      ]);
      for (const s of steps) expect(s.message_id).not.toBeNull();
      // Only steps interrupted while started ran again; finished ones never did. (Read "c" ran
      // beside "b": whether it had started when the worker died is a race, so 1 or 2.)
      const attempts = steps.map((s) => s.attempts);
      expect(attempts.slice(0, 6)).toEqual([2, 2, 1, 1, 2, 2]);
      expect([1, 2]).toContain(attempts[6]);
      expect(attempts.slice(7)).toEqual([1, 1, 1]);
      // One message per step, one final reply.
      const ofRun = messages.filter((m) => m.step_seq !== null);
      expect(ofRun.map((m) => m.step_seq)).toEqual(steps.map((s) => s.seq));
      expect(messages.filter((m) => m.role === 'assistant' && m.tool_calls === null)).toHaveLength(
        1,
      );
      // k1 was applied once (before the kill) and never again; k2 was never applied.
      expect(effectLines.map((l) => l.split(' ')[2])).toEqual(['k1']);
      expect(memories).toBe(1);
    },
    15 * 60_000,
  );
});
