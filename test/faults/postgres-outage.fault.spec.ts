import { randomBytes } from 'node:crypto';
import { createTestApp, registerUser, type TestApp, type TestUser } from '../support/test-app';
import { waitFor } from '../support/child-process';
import { PrivatePostgres } from '../support/private-postgres';
import { PrivateRedis } from '../support/private-redis';
import { createProject, createSession } from '../support/sessions-helpers';
import { uniqueSuffix } from '../support/test-env';
import { WorkerFleet, workerEnvFor } from '../support/worker-fleet';
import { HealthProber } from '../support/health-prober';
import {
  captureConsole,
  envInt,
  faultMetrics,
  outcome,
  RunsDb,
  seconds,
  sendInOrder,
  setAgentLimits,
} from '../support/fault-support';

/*
 * The product's PostgreSQL crashes (pg_ctl stop -m immediate on a private cluster) for 20 s while
 * runs are in flight on two workers, then comes back. Required during the outage: every API route
 * that needs the database answers 503 problem+json with Retry-After (never 500), /health answers
 * 200 within 1 s (API and workers), /ready answers 503. After: every run completes within 15 s of
 * PostgreSQL's return with exactly one reply, and the API answers 2xx again.
 *
 * Knobs (env): FAULT_PG_DOWN_MS (20000), FAULT_PG_RUNS (40), FAULT_PG_SESSIONS (20),
 * FAULT_TOKEN_DELAY_MS (30: a run takes 1-2 s), FAULT_DRAIN_DEADLINE_MS (how long to wait after the
 * return, to measure; the requirement stays 15 s).
 */
const DOWN_MS = envInt('FAULT_PG_DOWN_MS', 20_000);
const RUNS = envInt('FAULT_PG_RUNS', 40);
const SESSIONS = envInt('FAULT_PG_SESSIONS', 20);
const TOKEN_DELAY_MS = envInt('FAULT_TOKEN_DELAY_MS', 30);
const RECOVER_WITHIN_MS = 15_000;
const WAIT_MS = Math.max(RECOVER_WITHIN_MS, envInt('FAULT_DRAIN_DEADLINE_MS', RECOVER_WITHIN_MS));
const REQUEST_TIMEOUT_MS = 5_000;
const HEALTH_WITHIN_MS = 1_000;

interface Seen {
  status: number | 'timeout' | 'error';
  problemJson: boolean;
  retryAfter: boolean;
  ms: number;
}

describe('PostgreSQL outage under load (fault)', () => {
  const pg = new PrivatePostgres();
  const redis = new PrivateRedis();
  let dbUrl: string;
  let t: TestApp;
  let db: RunsDb;
  let user: TestUser;
  let fleet: WorkerFleet;
  let apiUrl: string;
  let prober: HealthProber | undefined;
  let consoleOutput: ReturnType<typeof captureConsole>;

  beforeAll(async () => {
    consoleOutput = captureConsole();
    await Promise.all([pg.start(), redis.start()]);
    dbUrl = pg.url(`codelab_test_pgout_${uniqueSuffix()}`);
    t = await createTestApp({
      databaseUrl: dbUrl,
      env: { APP_ROLE: 'api', REDIS_URL: redis.url },
    });
    await t.app.listen(0, '127.0.0.1');
    apiUrl = `http://127.0.0.1:${(t.app.getHttpServer().address() as { port: number }).port}`;
    db = new RunsDb(dbUrl);
    user = await registerUser(t.http);
    fleet = new WorkerFleet({
      env: workerEnvFor(t, redis.url, { OFFLINE_LLM_TOKEN_DELAY_MS: String(TOKEN_DELAY_MS) }),
    });
    await fleet.start(2);
  }, 120_000);

  afterAll(async () => {
    await prober?.stop().catch(() => undefined);
    await fleet?.destroy().catch(() => undefined);
    await db?.close().catch(() => undefined);
    // The API's pool must reach PostgreSQL for a clean close (and the database drop).
    await pg.start().catch(() => undefined);
    await t?.close().catch(() => undefined);
    await pg.destroy();
    await redis.destroy();
    consoleOutput?.restore();
  }, 120_000);

  it(
    'answers 503 + Retry-After during the outage, stays live, and completes every run within 15 s after',
    async () => {
      const projectId = await createProject(t.http, user, 'pg-outage');
      const agents = Object.values(await setAgentLimits(t.http, user, projectId, 32));
      const sessions = await Promise.all(
        Array.from({ length: SESSIONS }, (_, i) =>
          createSession(t.http, user, projectId, { agent: agents[i % agents.length] }),
        ),
      );
      // A session of its own for messages posted during the outage (keeps the others' order).
      const outageSession = await createSession(t.http, user, projectId);
      const auth = { authorization: user.auth.Authorization };

      prober = new HealthProber([
        { name: 'api', url: () => apiUrl },
        { name: 'worker0', url: () => fleet.url(0) },
        { name: 'worker1', url: () => fleet.url(1) },
      ]);
      const tProbe = Date.now();
      prober.start();

      const sent = await sendInOrder(
        t.http,
        user,
        projectId,
        sessions,
        Math.ceil(RUNS / SESSIONS),
        (s, i) => `session ${s} message ${i}: draft the migration plan`,
      );
      const ids = sent.map((s) => s.runId);
      await waitFor(
        'runs running on both workers',
        async () => {
          const rows = await db.query<{ worker_id: string }>(
            `select distinct worker_id from runs where status = 'running' and id = any($1::uuid[])`,
            [ids],
          );
          const busy = new Set(rows.map((r) => fleet.slotOfWorkerId(r.worker_id)));
          return busy.has(0) && busy.has(1);
        },
        30_000,
      );
      const before = await db.statusCounts(ids);
      const sampleRun = sent[0];

      const routes: Record<string, () => Promise<Response>> = {
        'GET /v1/my/projects': () =>
          fetch(`${apiUrl}/v1/my/projects`, {
            headers: auth,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }),
        'GET /v1/my/projects/:id': () =>
          fetch(`${apiUrl}/v1/my/projects/${projectId}`, {
            headers: auth,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }),
        'GET .../sessions/:id/messages': () =>
          fetch(`${apiUrl}/v1/my/projects/${projectId}/sessions/${sampleRun.sessionId}/messages`, {
            headers: auth,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }),
        'GET .../runs/:id': () =>
          fetch(
            `${apiUrl}/v1/my/projects/${projectId}/sessions/${sampleRun.sessionId}/runs/${sampleRun.runId}`,
            { headers: auth, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
          ),
        'POST .../sessions/:id/messages': () =>
          fetch(`${apiUrl}/v1/my/projects/${projectId}/sessions/${outageSession}/messages`, {
            method: 'POST',
            headers: {
              ...auth,
              'content-type': 'application/json',
              'idempotency-key': `outage-${randomBytes(6).toString('hex')}`,
            },
            body: JSON.stringify({ content: 'sent during the database outage' }),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }),
        'POST /v1/auth/login': () =>
          fetch(`${apiUrl}/v1/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: user.email, password: user.password }),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }),
        'GET /v1/me': () =>
          fetch(`${apiUrl}/v1/me`, {
            headers: auth,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }),
        'GET /ready': () =>
          fetch(`${apiUrl}/ready`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }),
      };
      const hit = async (name: string): Promise<Seen & { runId?: string }> => {
        const started = performance.now();
        try {
          const res = await routes[name]();
          const text = await res.text();
          let runId: string | undefined;
          if (res.status === 202) runId = (JSON.parse(text) as { run: { id: string } }).run.id;
          return {
            status: res.status,
            problemJson: /^application\/problem\+json/.test(res.headers.get('content-type') ?? ''),
            retryAfter: res.headers.has('retry-after'),
            ms: performance.now() - started,
            runId,
          };
        } catch (error) {
          return {
            status: (error as Error).name === 'TimeoutError' ? 'timeout' : 'error',
            problemJson: false,
            retryAfter: false,
            ms: performance.now() - started,
          };
        }
      };

      // --- the outage ---
      const tDown = Date.now();
      await pg.stop('immediate');
      const seen: Record<string, Seen[]> = Object.fromEntries(
        Object.keys(routes).map((r) => [r, []]),
      );
      const acceptedDuringOutage: string[] = [];
      while (Date.now() - tDown < DOWN_MS) {
        const round = Date.now();
        for (const name of Object.keys(routes)) {
          const r = await hit(name);
          seen[name].push(r);
          if (r.runId) acceptedDuringOutage.push(r.runId);
        }
        // About one round of requests per second (load shaping, not synchronisation).
        const rest = 1_000 - (Date.now() - round);
        if (rest > 0 && Date.now() - tDown + rest < DOWN_MS)
          await new Promise((resolve) => setTimeout(resolve, rest));
        else if (rest > 0) break;
      }
      const downFor = Date.now() - tDown;
      if (downFor < DOWN_MS) await new Promise((resolve) => setTimeout(resolve, DOWN_MS - downFor));
      const cpuDuring = fleet.slots.map((_, i) => fleet.cpuSeconds(i));

      // --- the return ---
      await pg.start();
      const tUp = Date.now();
      const allIds = [...ids, ...acceptedDuringOutage];
      let drained = false;
      let tDrainChecked = tUp;
      // The API answers 2xx again on every route (the first time each route did, after the
      // return), measured while the runs drain.
      const apiBack: Record<string, number | null> = {};
      const afterStatus: Record<string, number | string> = {};
      const acceptedAfterReturn: string[] = [];
      await Promise.all([
        waitFor(
          'every run to finish after PostgreSQL returned',
          async () => {
            const counts = await db.statusCounts(allIds);
            drained = (counts.queued ?? 0) + (counts.running ?? 0) === 0;
            return drained;
          },
          WAIT_MS,
        )
          .catch(() => undefined)
          .finally(() => (tDrainChecked = Date.now())),
        waitFor(
          'the API to answer 2xx again',
          async () => {
            for (const name of Object.keys(routes)) {
              if (typeof apiBack[name] === 'number') continue;
              const r = await hit(name);
              afterStatus[name] = r.status;
              if (r.runId) acceptedAfterReturn.push(r.runId);
              const ok =
                name === 'GET /ready'
                  ? r.status === 200
                  : typeof r.status === 'number' && r.status < 300;
              apiBack[name] = ok ? Date.now() - tUp : null;
            }
            return Object.values(apiBack).every((v) => v !== null);
          },
          WAIT_MS,
        ).catch(() => undefined),
      ]);
      await prober.stop();
      const tEnd = Date.now();

      const rows = await db.rows(allIds);
      const result = await outcome(db, allIds);
      const lastFinished = Math.max(
        0,
        ...rows.filter((r) => r.finished_at).map((r) => new Date(r.finished_at!).getTime()),
      );
      const health = prober.summary(tDown, tUp);
      const healthAll = prober.summary(tProbe, tEnd);
      const statuses = Object.fromEntries(
        Object.entries(seen).map(([name, list]) => [
          name,
          list.reduce<Record<string, number>>((acc, s) => {
            acc[String(s.status)] = (acc[String(s.status)] ?? 0) + 1;
            return acc;
          }, {}),
        ]),
      );
      const compliance = Object.fromEntries(
        Object.entries(seen).map(([name, list]) => [
          name,
          {
            problem_json: list.filter((s) => s.problemJson).length,
            retry_after: list.filter((s) => s.retryAfter).length,
            of: list.length,
            max_ms: Math.round(Math.max(0, ...list.map((s) => s.ms))),
          },
        ]),
      );
      faultMetrics('postgres-outage', {
        runs: allIds.length,
        in_flight_at_stop: (before.queued ?? 0) + (before.running ?? 0),
        accepted_during_outage: acceptedDuringOutage.length,
        accepted_after_return: acceptedAfterReturn.length,
        pg_down_s: seconds(tUp - tDown),
        lost: result.lost,
        stuck_at_deadline: (result.by_status.queued ?? 0) + (result.by_status.running ?? 0),
        duplicated: result.duplicated,
        failed: result.failed,
        completed_without_reply: result.without_reply,
        by_status: result.by_status,
        re_executions: rows.reduce((n, r) => n + Math.max(0, r.executions - 1), 0),
        recovery_s: drained ? seconds(lastFinished - tUp) : null,
        drain_waited_s: seconds(tDrainChecked - tUp),
        api_back_s: Object.fromEntries(Object.entries(apiBack).map(([k, v]) => [k, seconds(v)])),
        statuses_during_outage: statuses,
        health_during_outage: Object.fromEntries(
          Object.entries(health).map(([k, v]) => [
            k,
            { failures: v.failures, max_ms: v.max_latency_ms, probes: v.probes },
          ]),
        ),
        health_failures_whole_test: Object.fromEntries(
          Object.entries(healthAll).map(([k, v]) => [k, v.failures]),
        ),
        workers_alive: fleet.slots.map((_, i) => fleet.alive(i)),
        worker_exit_codes: fleet.slots.map((w) => w.app.child.exitCode),
        worker_cpu_s_at_return: cpuDuring,
        log_bytes_during_outage: fleet.slots.map((_, i) => fleet.bytesBetween(i, tDown, tUp)),
        memory_kills: fleet.memoryKills.length,
        api_console_errors: consoleOutput.count(),
      });
      faultMetrics('postgres-outage-details', {
        compliance_during_outage: compliance,
        status_after_return: afterStatus,
        health_first_failures: Object.fromEntries(
          Object.entries(healthAll).map(([k, v]) => [k, v.first_failures]),
        ),
        timeline_ms: { down: tDown - tProbe, up: tUp - tProbe, end: tEnd - tProbe },
        api_console_top: consoleOutput.top(),
        worker_top_log_messages: fleet.slots.map((_, i) => fleet.topMessages(i)),
      });

      // During the outage: 503 problem+json with Retry-After on every route that needs the
      // database, never a 500; GET /v1/me may answer from the token alone (200) or 503 likewise.
      for (const [name, list] of Object.entries(seen)) {
        expect(list.length).toBeGreaterThan(0);
        for (const s of list) {
          const where = `${name} during the outage`;
          if (name === 'GET /v1/me' && s.status === 200) continue;
          expect({ where, status: s.status }).toEqual({ where, status: 503 });
          expect({ where, problemJson: s.problemJson }).toEqual({ where, problemJson: true });
          if (name !== 'GET /ready')
            expect({ where, retryAfter: s.retryAfter }).toEqual({ where, retryAfter: true });
        }
      }
      // Liveness throughout the outage, API and workers.
      for (const [name, h] of Object.entries(health)) {
        expect({ name, failures: h.failures }).toEqual({ name, failures: 0 });
        expect(h.max_latency_ms).toBeLessThan(HEALTH_WITHIN_MS);
      }
      // After the return: every run completed once, within 15 s; the API answers 2xx again.
      expect(result).toEqual(
        expect.objectContaining({ lost: 0, duplicated: 0, failed: 0, without_reply: 0 }),
      );
      expect(drained).toBe(true);
      expect(lastFinished - tUp).toBeLessThanOrEqual(RECOVER_WITHIN_MS);
      for (const [name, back] of Object.entries(apiBack)) {
        expect({ name, back: back !== null }).toEqual({ name, back: true });
        expect(back!).toBeLessThanOrEqual(RECOVER_WITHIN_MS);
      }
    },
    DOWN_MS + WAIT_MS * 2 + 120_000,
  );
});
