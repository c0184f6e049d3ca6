import { createTestApp, registerUser, type TestApp, type TestUser } from '../support/test-app';
import { waitFor } from '../support/child-process';
import { PrivateRedis } from '../support/private-redis';
import { createProject, createSession } from '../support/sessions-helpers';
import { pidOfWorkerId, WorkerFleet, workerEnvFor } from '../support/worker-fleet';
import { HealthProber } from '../support/health-prober';
import {
  captureConsole,
  envInt,
  faultMetrics,
  outcome,
  RunsDb,
  seconds,
  sendInOrder,
  type SentRun,
  setAgentLimits,
} from '../support/fault-support';

/*
 * Redis (with AOF, like production) is killed with -9 while two workers are busy with a backlog of
 * runs, and restarted a few seconds later. Required: every process keeps answering /health within
 * 1 s, each worker resumes within 10 s of Redis' return, workers do not flood their logs, and every
 * accepted run completes exactly once.
 *
 * Knobs (env): FAULT_REDIS_RUNS (120), FAULT_REDIS_SESSIONS (40), FAULT_REDIS_DOWN_MS (4000),
 * FAULT_TOKEN_DELAY_MS (20: a run takes about a second), FAULT_DRAIN_DEADLINE_MS (how long to wait
 * for the runs after the restart; 60000), FAULT_LOG_WINDOW_MS (60000).
 */
const RUNS = envInt('FAULT_REDIS_RUNS', 120);
const SESSIONS = envInt('FAULT_REDIS_SESSIONS', 40);
const DOWN_MS = envInt('FAULT_REDIS_DOWN_MS', 4_000);
const TOKEN_DELAY_MS = envInt('FAULT_TOKEN_DELAY_MS', 20);
const DRAIN_DEADLINE_MS = envInt('FAULT_DRAIN_DEADLINE_MS', 60_000);
const LOG_WINDOW_MS = envInt('FAULT_LOG_WINDOW_MS', 60_000);
const WORKER_CONCURRENCY = 8;
const MIN_IN_FLIGHT = 50;
const RESUME_WITHIN_MS = 10_000;
const LOG_BUDGET_BYTES = 1024 * 1024;
const HEALTH_WITHIN_MS = 1_000;

describe('Redis restart under load (fault)', () => {
  const redis = new PrivateRedis({ aof: true });
  let t: TestApp;
  let db: RunsDb;
  let user: TestUser;
  let fleet: WorkerFleet;
  let apiUrl: string;
  let prober: HealthProber | undefined;
  let consoleOutput: ReturnType<typeof captureConsole>;

  beforeAll(async () => {
    consoleOutput = captureConsole();
    await redis.start();
    t = await createTestApp({ env: { APP_ROLE: 'api', REDIS_URL: redis.url } });
    await t.app.listen(0, '127.0.0.1');
    apiUrl = `http://127.0.0.1:${(t.app.getHttpServer().address() as { port: number }).port}`;
    db = new RunsDb(t.config.databaseUrl);
    user = await registerUser(t.http);
    fleet = new WorkerFleet({
      env: workerEnvFor(t, redis.url, {
        WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
        OFFLINE_LLM_TOKEN_DELAY_MS: String(TOKEN_DELAY_MS),
      }),
    });
    await fleet.start(2);
  }, 120_000);

  afterAll(async () => {
    await prober?.stop().catch(() => undefined);
    await fleet?.destroy().catch(() => undefined);
    await db?.close().catch(() => undefined);
    // The API's Redis must be up for a clean close.
    await redis.start().catch(() => undefined);
    await t?.close().catch(() => undefined);
    await redis.destroy();
    consoleOutput?.restore();
  }, 60_000);

  it(
    'keeps every process answering, resumes each worker within 10 s, and completes every run once',
    async () => {
      const projectId = await createProject(t.http, user, 'redis-restart');
      // The agent limit must not be the bottleneck: 2 x 8 worker slots < 32.
      const agents = Object.values(await setAgentLimits(t.http, user, projectId, 32));
      const sessions = await Promise.all(
        Array.from({ length: SESSIONS }, (_, i) =>
          createSession(t.http, user, projectId, { agent: agents[i % agents.length] }),
        ),
      );

      prober = new HealthProber([
        { name: 'api', url: () => apiUrl },
        { name: 'worker0', url: () => fleet.url(0) },
        { name: 'worker1', url: () => fleet.url(1) },
      ]);
      const tProbe = Date.now();
      prober.start();

      const sendStarted = Date.now();
      const sent: SentRun[] = await sendInOrder(
        t.http,
        user,
        projectId,
        sessions,
        Math.ceil(RUNS / SESSIONS),
        (s, i) => `session ${s} message ${i}: summarise the incident report`,
      );
      const sendMs = Date.now() - sendStarted;
      const ids = sent.map((s) => s.runId);

      // Kill only once both workers are busy.
      let runningAtKill: Record<string, number> = {};
      await waitFor(
        'runs running on both workers',
        async () => {
          const rows = await db.query<{ worker_id: string; n: number }>(
            `select worker_id, count(*)::int as n from runs
             where status = 'running' and id = any($1::uuid[]) group by worker_id`,
            [ids],
          );
          runningAtKill = Object.fromEntries(rows.map((r) => [r.worker_id, r.n]));
          const busy = new Set(rows.map((r) => fleet.slotOfWorkerId(r.worker_id)));
          return busy.has(0) && busy.has(1);
        },
        30_000,
      );
      const before = await db.statusCounts(ids);
      const inFlightAtKill = (before.queued ?? 0) + (before.running ?? 0);

      const cpu = (): (number | undefined)[] => fleet.slots.map((_, i) => fleet.cpuSeconds(i));
      const cpuAtKill = cpu();
      const tKill = Date.now();
      await redis.kill();
      // The fault itself: Redis stays down this long.
      await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
      await redis.start();
      const tBack = Date.now();
      const cpuAtBack = cpu();

      // Drain: every run final, or the deadline.
      let drained = false;
      await waitFor(
        'every run to finish after the restart',
        async () => {
          const counts = await db.statusCounts(ids);
          drained = (counts.queued ?? 0) + (counts.running ?? 0) === 0;
          return drained;
        },
        DRAIN_DEADLINE_MS,
      ).catch(() => undefined);
      const tDrainChecked = Date.now();

      // The minute after the restart, for the log budget (the scenario's measuring window).
      const logWindowEnd = tBack + LOG_WINDOW_MS;
      if (Date.now() < logWindowEnd)
        await new Promise((resolve) => setTimeout(resolve, logWindowEnd - Date.now() + 1_100));
      await prober.stop();
      const tEnd = Date.now();
      const cpuAtEnd = cpu();
      // CPU share of one core per worker: while Redis was down, and from its return to the end.
      const share = (a: (number | undefined)[], b: (number | undefined)[], ms: number) =>
        a.map((x, i) =>
          x === undefined || b[i] === undefined
            ? null
            : Math.round(((b[i]! - x) * 100_000) / ms) / 100,
        );

      const rows = await db.rows(ids);
      const result = await outcome(db, ids);
      const lastFinished = Math.max(
        ...rows.filter((r) => r.finished_at).map((r) => new Date(r.finished_at!).getTime()),
      );
      // A worker has resumed when it starts a run after Redis is back (runs.worker_id = host:pid:random).
      const recovery = fleet.slots.map((w) => {
        const starts = rows
          .filter((r) => pidOfWorkerId(r.worker_id) === w.pid && r.started_at)
          .map((r) => new Date(r.started_at!).getTime())
          .filter((at) => at > tBack);
        return starts.length ? Math.min(...starts) - tBack : null;
      });
      const finishedAfter = fleet.slots.map(
        (w) =>
          rows.filter(
            (r) =>
              pidOfWorkerId(r.worker_id) === w.pid &&
              r.finished_at &&
              new Date(r.finished_at).getTime() > tBack,
          ).length,
      );
      const health = prober.summary(tProbe, tEnd);
      const logBytes = fleet.slots.map((w, i) =>
        fleet.bytesBetween(i, tBack, tBack + LOG_WINDOW_MS),
      );
      const metrics = {
        runs: ids.length,
        send_s: seconds(sendMs),
        in_flight_at_kill: inFlightAtKill,
        running_at_kill: runningAtKill,
        redis_down_s: seconds(tBack - tKill),
        lost: result.lost,
        stuck_at_deadline: (result.by_status.queued ?? 0) + (result.by_status.running ?? 0),
        duplicated: result.duplicated,
        failed: result.failed,
        completed_without_reply: result.without_reply,
        by_status: result.by_status,
        re_executions: rows.reduce((n, r) => n + Math.max(0, r.executions - 1), 0),
        recovery_s: recovery.map(seconds),
        finished_after_restart_by_worker: finishedAfter,
        drain_s: drained ? seconds(lastFinished - tBack) : null,
        drain_waited_s: seconds(tDrainChecked - tBack),
        health_max_latency_ms: Object.fromEntries(
          Object.entries(health).map(([k, v]) => [k, v.max_latency_ms]),
        ),
        health_failures: Object.fromEntries(
          Object.entries(health).map(([k, v]) => [k, v.failures]),
        ),
        health_probes: Object.fromEntries(Object.entries(health).map(([k, v]) => [k, v.probes])),
        log_bytes_minute_after_restart: logBytes,
        log_bytes_total: fleet.slots.map((w) => w.app.bytes()),
        workers_alive: fleet.slots.map((_, i) => fleet.alive(i)),
        cpu_share_while_down: share(cpuAtKill, cpuAtBack, tBack - tKill),
        cpu_share_after_restart: share(cpuAtBack, cpuAtEnd, tEnd - tBack),
        rss_mb_at_end: fleet.slots.map((_, i) => fleet.rssMb(i)),
        memory_kills: fleet.memoryKills.map((k) => ({
          slot: k.slot,
          at_s: seconds(k.at - tBack),
          rss_mb: k.rssMb,
        })),
        api_console_errors: consoleOutput.count(),
      };
      faultMetrics('redis-restart', metrics);
      faultMetrics('redis-restart-details', {
        timeline_ms: { kill: tKill - tProbe, back: tBack - tProbe, end: tEnd - tProbe },
        api_console_top: consoleOutput.top(),
        health_first_failures: Object.fromEntries(
          Object.entries(health).map(([k, v]) => [k, v.first_failures]),
        ),
        worker_top_log_messages: fleet.slots.map((_, i) => fleet.topMessages(i)),
      });

      // Preconditions of the scenario.
      expect(Object.keys(runningAtKill).length).toBeGreaterThanOrEqual(2);
      expect(inFlightAtKill).toBeGreaterThanOrEqual(MIN_IN_FLIGHT);
      // Liveness: every process answered /health within 1 s, every time.
      for (const [name, h] of Object.entries(health)) {
        expect({ name, failures: h.failures }).toEqual({ name, failures: 0 });
        expect(h.max_latency_ms).toBeLessThan(HEALTH_WITHIN_MS);
      }
      // Each worker resumed within 10 s of Redis' return.
      for (const r of recovery) {
        expect(r).not.toBeNull();
        expect(r!).toBeLessThanOrEqual(RESUME_WITHIN_MS);
      }
      // No log flood.
      for (const bytes of logBytes) expect(bytes).toBeLessThan(LOG_BUDGET_BYTES);
      // Every accepted run completed, with exactly one reply.
      expect(result).toEqual(
        expect.objectContaining({ lost: 0, duplicated: 0, failed: 0, without_reply: 0 }),
      );
    },
    DOWN_MS + Math.max(DRAIN_DEADLINE_MS, LOG_WINDOW_MS) + 120_000,
  );
});
