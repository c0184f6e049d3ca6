import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createTestApp, registerUser, type TestApp, type TestUser } from '../support/test-app';
import { waitFor } from '../support/child-process';
import { createProject, createSession, sendMessage } from '../support/sessions-helpers';
import { WorkerFleet, workerEnvFor } from '../support/worker-fleet';
import { envInt, faultMetrics, RunsDb, seconds, setAgentLimits } from '../support/fault-support';
import { dropTestDatabase } from '../support/test-database';
import { TEST_REDIS_URL } from '../support/test-env';

/*
 * Approval deadlines survive a restart of everything, under load. 30 runs (default action
 * `reject`) and 10 runs (default `approve`, another project) park on pending write_file
 * approvals with a short deadline while other sessions keep the workers busy. While they are
 * pending every worker is SIGKILLed, the API app is closed and a new one started on the same
 * database, and the delayed deadline jobs of half the approvals are removed from Redis (only the
 * sweeper can apply those). New workers start before the first deadline. Required: every
 * approval decided by `timeout` within deadline + 5 s (rejects `expired`, approves `approved`),
 * every run completed (an expired call failed with APPROVAL_EXPIRED and its file never written;
 * an approved one written exactly once), nothing left pending or parked, no load run lost.
 */
const REJECTS = envInt('FAULT_APPROVAL_REJECTS', 30);
const APPROVES = envInt('FAULT_APPROVAL_APPROVES', 10);
const DEADLINE_S = envInt('FAULT_APPROVAL_DEADLINE_S', 10);
const LOAD_SESSIONS = envInt('FAULT_APPROVAL_LOAD_SESSIONS', 8);
const WORKERS = 2;
const LATE_LIMIT_MS = 5_000;

const LOAD_MESSAGE = [
  'busy work',
  '/tool test_read {"text":"a","delay_ms":300}',
  '/tool test_read {"text":"b","delay_ms":300}',
].join('\n');

interface Parked {
  project: 'reject' | 'approve';
  projectId: string;
  sessionId: string;
  runId: string;
  path: string;
  content: string;
}

interface ApprovalRow {
  id: string;
  run_id: string;
  status: string;
  decided_by: string | null;
  default_action: string;
  late_ms: number | null;
  resumed: boolean;
}

const percentile = (values: number[], p: number): number | null => {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

describe('approval deadlines across a restart of API and workers (fault)', () => {
  let t: TestApp;
  let api: TestApp;
  let tClosed = false;
  let db: RunsDb;
  let user: TestUser;
  let fleet: WorkerFleet;
  let deadlines: Queue;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'api' } });
    api = t;
    db = new RunsDb(t.config.databaseUrl);
    user = await registerUser(t.http);
    fleet = new WorkerFleet({
      env: workerEnvFor(t, TEST_REDIS_URL, { WORKER_CONCURRENCY: '8', LOG_LEVEL: 'warn' }),
    });
    await fleet.start(WORKERS);
    deadlines = new Queue('approval-deadlines', {
      connection: { url: TEST_REDIS_URL, maxRetriesPerRequest: 1 },
      prefix: `${t.config.redisKeyPrefix}bull`,
    });
  }, 120_000);

  afterAll(async () => {
    await deadlines?.close().catch(() => undefined);
    await fleet?.destroy().catch(() => undefined);
    await db?.close().catch(() => undefined);
    if (api && api !== t) await api.close().catch(() => undefined);
    if (!tClosed) {
      await t?.close().catch(() => undefined);
      return;
    }
    // The first app owns the database, workspaces and key prefix, but its Nest app is closed
    // already (a second close() would run its shutdown hooks again): clean up as its close() does.
    await dropTestDatabase(new URL(t.config.databaseUrl).pathname.slice(1)).catch(() => undefined);
    await rm(t.config.workspace.dir, { recursive: true, force: true });
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(
          cursor,
          'MATCH',
          `${t.config.redisKeyPrefix}*`,
          'COUNT',
          500,
        );
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }, 60_000);

  /** A project whose coder parks write_file on an approval with the given default action. */
  const approvalProject = async (name: string, action: 'approve' | 'reject') => {
    const projectId = await createProject(api.http, user, name);
    await api.http
      .patch(`/v1/my/projects/${projectId}`)
      .set(user.auth)
      .send({
        settings: {
          approval_deadline_seconds: DEADLINE_S,
          approval_default_actions: { tool: action, command: 'reject' },
        },
      })
      .expect(200);
    const ids = await setAgentLimits(api.http, user, projectId, 16, ['CodeAssistant']);
    await api.http
      .patch(`/v1/my/projects/${projectId}/agents/${ids.CodeAssistant}`)
      .set(user.auth)
      .send({ memory_enabled: false })
      .expect(200);
    return projectId;
  };

  const dbNow = async (): Promise<number> =>
    (await db.query<{ now: Date }>('select now() as now'))[0].now.getTime();

  it(
    'applies every default action within deadline + 5 s though all workers were killed, the API restarted and half the deadline jobs lost, under load',
    async () => {
      const rejectProject = await approvalProject('deadlines-reject', 'reject');
      const approveProject = await approvalProject('deadlines-approve', 'approve');

      // Background load: sessions of another project that each run a two-tool script, one after
      // the other, for the whole test. Paused (not failed) while no API is up.
      const loadProject = await createProject(api.http, user, 'deadlines-load');
      const loadAgents = await setAgentLimits(api.http, user, loadProject, 16, ['DocumentWriter']);
      await api.http
        .patch(`/v1/my/projects/${loadProject}/agents/${loadAgents.DocumentWriter}`)
        .set(user.auth)
        .send({ tools: ['test_read'], approval_tools: [], memory_enabled: false })
        .expect(200);
      const loadSessions = await Promise.all(
        Array.from({ length: LOAD_SESSIONS }, () =>
          createSession(api.http, user, loadProject, { agent: 'DocumentWriter' }),
        ),
      );
      const load = {
        stop: false,
        runs: [] as string[],
        sendErrors: 0,
        inflight: new Set<Promise<unknown>>(),
        gate: Promise.resolve() as Promise<void>,
      };
      const terminal = async (runId: string) => {
        const [row] = await db.query<{ status: string }>('select status from runs where id = $1', [
          runId,
        ]);
        return ['completed', 'failed', 'cancelled', 'expired'].includes(row?.status);
      };
      const loadLoop = async (sid: string) => {
        while (!load.stop) {
          await load.gate;
          if (load.stop) break;
          const send = sendMessage(api.http, user, loadProject, sid, { content: LOAD_MESSAGE });
          load.inflight.add(send);
          let runId: string;
          try {
            runId = (await send).run.id;
          } catch {
            load.sendErrors++;
            continue;
          } finally {
            load.inflight.delete(send);
          }
          load.runs.push(runId);
          await waitFor(`load run ${runId} to finish`, () => terminal(runId), 90_000);
        }
      };
      const loops = loadSessions.map((sid) => loadLoop(sid));
      // The workers are busy before anything parks.
      await waitFor(
        'the load to flow',
        async () => (await db.statusCounts(load.runs)).completed >= LOAD_SESSIONS,
        60_000,
      );

      // Park the approval runs, each in its own session.
      const parkStarted = Date.now();
      const parked: Parked[] = await Promise.all(
        [
          ...Array.from({ length: REJECTS }, (_, i) => ({
            project: 'reject' as const,
            projectId: rejectProject,
            i,
          })),
          ...Array.from({ length: APPROVES }, (_, i) => ({
            project: 'approve' as const,
            projectId: approveProject,
            i,
          })),
        ].map(async ({ project, projectId, i }) => {
          const path = `${project}-${i}.txt`;
          const content = `${project} ${i}`;
          const sessionId = await createSession(api.http, user, projectId, {
            agent: 'CodeAssistant',
          });
          const { run } = await sendMessage(api.http, user, projectId, sessionId, {
            content: `do it\n/tool write_file ${JSON.stringify({ path, content })}`,
          });
          return { project, projectId, sessionId, runId: run.id, path, content };
        }),
      );
      const runIds = parked.map((p) => p.runId);
      const total = parked.length;
      await waitFor(
        `${total} runs to park on pending approvals`,
        async () => {
          const [{ n }] = await db.query<{ n: number }>(
            `select count(*)::int as n from approvals a join runs r on r.id = a.run_id
             where a.run_id = any($1::uuid[]) and a.status = 'pending'
               and r.status = 'awaiting_approval'`,
            [runIds],
          );
          return n === total;
        },
        60_000,
      );
      const parkedInMs = Date.now() - parkStarted;
      const approvals = await db.query<{ id: string; run_id: string; deadline_ms: number }>(
        `select id, run_id, (extract(epoch from deadline_at) * 1000)::float8 as deadline_ms
         from approvals where run_id = any($1::uuid[])`,
        [runIds],
      );
      expect(approvals).toHaveLength(total);
      const firstDeadline = Math.min(...approvals.map((a) => a.deadline_ms));
      const lastDeadline = Math.max(...approvals.map((a) => a.deadline_ms));
      // Each approval got its delayed deadline job from the worker that parked the run.
      const jobStates = await Promise.all(
        approvals.map((a) => deadlines.getJobState(`deadline-${a.id}`)),
      );
      const delayedBefore = jobStates.filter((s) => s === 'delayed').length;
      const loadActiveAtKill = (await db.statusCounts(load.runs)).running ?? 0;

      // Everything restarts while the approvals are pending.
      const restartAt = await dbNow();
      const t0 = Date.now();
      await Promise.all(fleet.slots.map((w) => fleet.kill(w.slot)));
      const killedMs = Date.now() - t0;
      let reopen!: () => void;
      load.gate = new Promise<void>((resolve) => (reopen = resolve));
      await Promise.allSettled([...load.inflight]);
      const closeStarted = Date.now();
      await t.app.close();
      tClosed = true;
      const apiCloseMs = Date.now() - closeStarted;
      // Half of each project's approvals lose their delayed job: only the sweeper is left.
      const lost = new Set<string>();
      for (const project of ['reject', 'approve'] as const) {
        const ofProject = parked.filter((p) => p.project === project);
        for (let i = 0; i < ofProject.length; i += 2) {
          const approval = approvals.find((a) => a.run_id === ofProject[i].runId)!;
          await deadlines.remove(`deadline-${approval.id}`);
          lost.add(approval.id);
        }
      }
      const remainingStates = await Promise.all(
        approvals.map((a) => deadlines.getJobState(`deadline-${a.id}`)),
      );
      const apiStarted = Date.now();
      api = await createTestApp({ shareWith: t, env: { APP_ROLE: 'api' } });
      const apiStartMs = Date.now() - apiStarted;
      reopen();
      const workersStarted = Date.now();
      await Promise.all(Array.from({ length: WORKERS }, (_, slot) => fleet.spawn(slot)));
      const workersStartMs = Date.now() - workersStarted;
      const restartedAt = await dbNow();
      const restartMs = Date.now() - t0;

      // Every approval is decided, then every run finishes.
      const decideBy = lastDeadline + LATE_LIMIT_MS + 20_000 - (await dbNow());
      await waitFor(
        'every approval to be decided',
        async () => {
          const [{ n }] = await db.query<{ n: number }>(
            `select count(*)::int as n from approvals
             where run_id = any($1::uuid[]) and status = 'pending'`,
            [runIds],
          );
          return n === 0;
        },
        Math.max(decideBy, 5_000),
      ).catch(() => undefined);
      await waitFor(
        'every parked run to finish',
        async () => (await db.statusCounts(runIds)).completed === total,
        60_000,
      ).catch(() => undefined);

      load.stop = true;
      await Promise.all(loops);
      await waitFor(
        'the load runs to finish',
        async () => {
          const counts = await db.statusCounts(load.runs);
          return (counts.completed ?? 0) + (counts.failed ?? 0) === load.runs.length;
        },
        60_000,
      ).catch(() => undefined);

      const rows = await db.query<ApprovalRow>(
        `select id, run_id, status::text as status, decided_by, default_action,
                (extract(epoch from decided_at - deadline_at) * 1000)::float8 as late_ms,
                resumed_at is not null as resumed
         from approvals where run_id = any($1::uuid[])`,
        [runIds],
      );
      const steps = await db.query<{
        run_id: string;
        seq: number;
        name: string;
        status: string;
        attempts: number;
        error_code: string | null;
        finished_ms: number | null;
      }>(
        `select run_id, seq, name, status::text as status, attempts, error->>'code' as error_code,
                (extract(epoch from finished_at) * 1000)::float8 as finished_ms
         from run_steps where run_id = any($1::uuid[]) and kind = 'tool' order by run_id, seq`,
        [runIds],
      );
      const runStatus = await db.statusCounts(runIds);
      const [{ stuck }] = await db.query<{ stuck: number }>(
        `select count(*)::int as stuck from runs where status = 'awaiting_approval'`,
      );
      const [{ pending }] = await db.query<{ pending: number }>(
        `select count(*)::int as pending from approvals where status = 'pending'`,
      );
      const loadStatus = await db.statusCounts(load.runs);
      const finals = await db.query<{ run_id: string; n: number }>(
        `select run_id, count(*)::int as n from messages
         where run_id = any($1::uuid[]) and role = 'assistant' and tool_calls is null
         group by run_id`,
        [runIds],
      );
      const finalReplies = new Map(finals.map((f) => [f.run_id, f.n]));

      const workspace = (p: Parked) => join(t.config.workspace.dir, p.projectId, p.path);
      const rejected = parked.filter((p) => p.project === 'reject');
      const approved = parked.filter((p) => p.project === 'approve');
      const late = rows.map((r) => r.late_ms).filter((v): v is number => v !== null);
      const lateOf = (ids: Set<string>, keep: boolean) =>
        rows.filter((r) => ids.has(r.id) === keep && r.late_ms !== null).map((r) => r.late_ms!);
      const round = (v: number | null) => (v === null ? null : Math.round(v));
      const writesOf = (runId: string) =>
        steps.filter((s) => s.run_id === runId && s.name === 'write_file');

      faultMetrics('approval-deadlines', {
        approvals: total,
        default_reject: rejected.length,
        default_approve: approved.length,
        deadline_s: DEADLINE_S,
        load_sessions: LOAD_SESSIONS,
        parked_in_s: seconds(parkedInMs),
        delayed_jobs_before: delayedBefore,
        deadline_jobs_removed: lost.size,
        delayed_jobs_after_removal: remainingStates.filter((s) => s === 'delayed').length,
        load_runs_active_at_kill: loadActiveAtKill,
        restart: {
          kill_workers_ms: killedMs,
          api_close_ms: apiCloseMs,
          api_start_ms: apiStartMs,
          workers_start_ms: workersStartMs,
          total_ms: restartMs,
          margin_to_first_deadline_ms: Math.round(firstDeadline - restartedAt),
          first_deadline_after_kill_ms: Math.round(firstDeadline - restartAt),
        },
        statuses: rows.reduce<Record<string, number>>((acc, r) => {
          const key = `${r.default_action}->${r.status}/${r.decided_by}`;
          acc[key] = (acc[key] ?? 0) + 1;
          return acc;
        }, {}),
        late_ms: { p50: round(percentile(late, 50)), max: round(percentile(late, 100)) },
        late_ms_job_lost: {
          p50: round(percentile(lateOf(lost, true), 50)),
          max: round(percentile(lateOf(lost, true), 100)),
        },
        late_ms_job_kept: {
          p50: round(percentile(lateOf(lost, false), 50)),
          max: round(percentile(lateOf(lost, false), 100)),
        },
        not_resumed: rows.filter((r) => !r.resumed).length,
        runs: runStatus,
        still_pending: pending,
        stuck_awaiting_approval: stuck,
        rejected_files_written: rejected.filter((p) => existsSync(workspace(p))).length,
        approved_files_written: approved.filter((p) => existsSync(workspace(p))).length,
        approved_write_steps: approved.map((p) => writesOf(p.runId).length),
        runs_without_one_final_reply: parked.filter((p) => finalReplies.get(p.runId) !== 1).length,
        load_runs: load.runs.length,
        load_status: loadStatus,
        load_send_errors: load.sendErrors,
        worker_messages: fleet.topMessages(0, 5),
      });

      // The restart happened while every approval was pending: the new processes applied them.
      if (restartedAt >= firstDeadline)
        throw new Error(
          `The restart ended ${Math.round(restartedAt - firstDeadline)} ms after the first deadline: the test proves nothing; raise FAULT_APPROVAL_DEADLINE_S`,
        );
      expect(delayedBefore).toBe(total);
      expect(remainingStates.filter((s) => s === 'delayed')).toHaveLength(total - lost.size);

      // Every approval decided by its deadline, in time, once; nothing left pending or parked.
      expect(rows).toHaveLength(total);
      for (const r of rows) {
        expect({ id: r.id, status: r.status, by: r.decided_by }).toEqual({
          id: r.id,
          status: r.default_action === 'approve' ? 'approved' : 'expired',
          by: 'timeout',
        });
        expect(r.late_ms).toBeGreaterThanOrEqual(0);
        expect(r.late_ms).toBeLessThan(LATE_LIMIT_MS);
        expect(r.resumed).toBe(true);
      }
      expect(pending).toBe(0);
      expect(stuck).toBe(0);
      expect(runStatus).toEqual({ completed: total });
      for (const p of parked)
        expect({ run: p.runId, finals: finalReplies.get(p.runId) }).toEqual({
          run: p.runId,
          finals: 1,
        });

      // Expired: the call failed with APPROVAL_EXPIRED and never ran.
      for (const p of rejected) {
        expect(
          writesOf(p.runId).map((s) => ({ run: p.runId, status: s.status, code: s.error_code })),
        ).toEqual([{ run: p.runId, status: 'failed', code: 'APPROVAL_EXPIRED' }]);
        expect(existsSync(workspace(p))).toBe(false);
      }
      // Approved by default: the call ran once, after the restart, with the approved content.
      for (const p of approved) {
        const writes = writesOf(p.runId);
        expect(
          writes.map((s) => ({ run: p.runId, status: s.status, attempts: s.attempts })),
        ).toEqual([{ run: p.runId, status: 'succeeded', attempts: 1 }]);
        expect(writes[0].finished_ms).toBeGreaterThan(restartedAt);
        expect(readFileSync(workspace(p), 'utf8')).toBe(p.content);
      }

      // The load went on through the restart and lost nothing.
      expect(loadStatus).toEqual({ completed: load.runs.length });
    },
    5 * 60_000,
  );
});
