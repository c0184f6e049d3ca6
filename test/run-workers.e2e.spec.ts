import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { createTestApp, registerUser, type TestApp, type TestUser } from './support/test-app';
import {
  type AppProcess,
  freePort,
  httpStatus,
  startAppProcess,
  waitFor,
  withDeadline,
} from './support/child-process';
import { PrivateRedis } from './support/private-redis';
import { listenUrl, TestSseClient } from './support/sse-client';
import {
  createProject,
  createSession,
  type RunView,
  sendMessage,
  waitForRun,
} from './support/sessions-helpers';

interface RunRow {
  id: string;
  session_id: string;
  agent_id: string;
  status: string;
  created_at: Date;
  started_at: Date;
  finished_at: Date;
  worker_id: string | null;
}

/** Largest number of runs whose [started_at, finished_at] intervals overlap at one instant. */
function maxOverlap(runs: RunRow[]): number {
  const points = runs.flatMap((r) => [
    { t: r.started_at.getTime(), d: 1 },
    { t: r.finished_at.getTime(), d: -1 },
  ]);
  // At equal instants, ends before starts: touching intervals do not overlap.
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let current = 0;
  let max = 0;
  for (const p of points) max = Math.max(max, (current += p.d));
  return max;
}

/**
 * The API in this process, two worker processes started by the test, and a private Redis:
 * the limits hold across processes, a killed worker's run completes elsewhere, and a message
 * accepted while Redis is down is processed once it is back.
 */
describe('runs across two worker processes (e2e)', () => {
  const redis = new PrivateRedis();
  let t: TestApp;
  let user: TestUser;
  const workers: AppProcess[] = [];

  const startWorker = async () => {
    const port = await freePort();
    const worker = startAppProcess(
      {
        APP_ROLE: 'worker',
        WORKER_PORT: String(port),
        DATABASE_URL: t.config.databaseUrl,
        DB_MIGRATE_ON_START: 'false',
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: t.config.redisKeyPrefix,
        JWT_SECRET: t.config.jwt.secret,
        LOG_LEVEL: 'warn',
        // One run at a time per process: the agent limit (2) can only be reached by both together.
        WORKER_CONCURRENCY: '1',
        OFFLINE_LLM_TOKEN_DELAY_MS: '25',
        RUN_LEASE_TTL_MS: '3000',
        RUN_JOB_LOCK_MS: '3000',
        RUN_STALE_AFTER_MS: '4000',
        RUN_RELAY_INTERVAL_MS: '500',
        TEST_TOOLS: 'true',
      },
      mkdtempSync(join(tmpdir(), 'codelab-worker-')),
    );
    workers.push(worker);
    await waitFor(
      'a worker to be ready',
      async () => (await httpStatus(`http://127.0.0.1:${port}/ready`)) === 200,
      30_000,
    );
    return worker;
  };

  const rows = async (runIds: string[]): Promise<RunRow[]> =>
    (
      await t.app
        .get(MikroORM)
        .em.getConnection()
        .execute<RunRow[]>(
          `select id, session_id, agent_id, status, created_at, started_at, finished_at, worker_id from runs where id in (${runIds.map(() => '?').join(',')}) order by created_at, id`,
          runIds,
        )
    ).map((r) => ({
      ...r,
      created_at: new Date(r.created_at),
      started_at: new Date(r.started_at),
      finished_at: new Date(r.finished_at),
    }));

  const setLimit = async (projectId: string, agentName: string, limit: number): Promise<string> => {
    const agents = (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(user.auth)).body
      .items as { id: string; name: string }[];
    const agent = agents.find((a) => a.name === agentName);
    if (!agent) throw new Error(agentName);
    await t.http
      .patch(`/v1/my/projects/${projectId}/agents/${agent.id}`)
      .set(user.auth)
      .send({ concurrency_limit: limit })
      .expect(200);
    return agent.id;
  };

  const waitAll = (projectId: string, runs: { sid: string; run: RunView }[]) =>
    Promise.all(
      runs.map(({ sid, run }) =>
        waitForRun(
          t.http,
          user,
          projectId,
          sid,
          run.id,
          ['completed', 'failed', 'cancelled'],
          60_000,
        ),
      ),
    );

  beforeAll(async () => {
    await redis.start();
    t = await createTestApp({ env: { APP_ROLE: 'api', REDIS_URL: redis.url } });
    await t.app.listen(0, '127.0.0.1');
    user = await registerUser(t.http);
    await Promise.all([startWorker(), startWorker()]);
  });

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await t.close();
    await redis.stop();
  });

  it('streams events produced by a worker process to a client of the API process', async () => {
    const projectId = await createProject(t.http, user, 'cross-process');
    const sid = await createSession(t.http, user, projectId);
    const sse = await new TestSseClient(
      `${listenUrl(t.app.getHttpServer())}/v1/my/projects/${projectId}/sessions/${sid}/events`,
      user.auth,
    ).open();
    try {
      await sendMessage(t.http, user, projectId, sid, { content: 'from another process' });
      await sse.waitForEvent('run_completed', 30_000);
      // run_started, tokens and completion were appended by a worker, not by this process.
      expect(sse.types()).toEqual(
        expect.arrayContaining([
          'message_received',
          'run_queued',
          'run_started',
          'token',
          'message_completed',
          'run_completed',
        ]),
      );
    } finally {
      sse.close();
    }
  });

  it('never runs more than the agent limit (2) at once, with 8 sessions on two workers', async () => {
    const projectId = await createProject(t.http, user, 'limit');
    await setLimit(projectId, 'DataAnalyst', 2);
    const sessions = await Promise.all(
      Array.from({ length: 8 }, () =>
        createSession(t.http, user, projectId, { agent: 'DataAnalyst' }),
      ),
    );
    const sent = await Promise.all(
      sessions.map(async (sid) => ({
        sid,
        run: (await sendMessage(t.http, user, projectId, sid, { content: `analyse set ${sid}` }))
          .run,
      })),
    );
    const done = await waitAll(projectId, sent);
    expect(done.map((r) => r.status)).toEqual(Array(8).fill('completed'));
    const runs = await rows(sent.map((s) => s.run.id));
    expect(maxOverlap(runs)).toBe(2);
    // Both worker processes took part.
    expect(new Set(runs.map((r) => r.worker_id)).size).toBe(2);
  });

  it("answers one session's 4 messages in order, never overlapping", async () => {
    const projectId = await createProject(t.http, user, 'fifo');
    const sid = await createSession(t.http, user, projectId);
    const sent: { sid: string; run: RunView }[] = [];
    for (let i = 1; i <= 4; i++)
      sent.push({
        sid,
        run: (await sendMessage(t.http, user, projectId, sid, { content: `step ${i}` })).run,
      });
    await waitAll(projectId, sent);
    // In the order the messages were sent (created_at may tie within a millisecond).
    const ids = sent.map((s) => s.run.id);
    const runs = (await rows(ids)).sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
    expect(maxOverlap(runs)).toBe(1);
    for (let i = 1; i < runs.length; i++)
      expect(runs[i].started_at.getTime()).toBeGreaterThanOrEqual(
        runs[i - 1].finished_at.getTime(),
      );

    const messages = (
      await t.http.get(`/v1/my/projects/${projectId}/sessions/${sid}/messages`).set(user.auth)
    ).body.items as {
      role: string;
      run_id: string;
      content: string;
    }[];
    const replies = messages.filter((m) => m.role === 'assistant');
    expect(replies.map((m) => m.run_id)).toEqual(sent.map((s) => s.run.id));
    replies.forEach((m, i) => expect(m.content).toContain(`step ${i + 1}`));
  });

  it("starts an idle agent's run while another agent is saturated", async () => {
    const projectId = await createProject(t.http, user, 'fairness');
    await setLimit(projectId, 'CodeAssistant', 1);
    const busy = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const sid = await createSession(t.http, user, projectId, { agent: 'CodeAssistant' });
        return {
          sid,
          run: (
            await sendMessage(t.http, user, projectId, sid, {
              content: 'refactor the billing module',
            })
          ).run,
        };
      }),
    );
    const idleSid = await createSession(t.http, user, projectId, { agent: 'DocumentWriter' });
    const idle = {
      sid: idleSid,
      run: (await sendMessage(t.http, user, projectId, idleSid, { content: 'write the changelog' }))
        .run,
    };
    await waitAll(projectId, [...busy, idle]);
    const busyRuns = await rows(busy.map((b) => b.run.id));
    const [idleRun] = await rows([idle.run.id]);
    expect(maxOverlap(busyRuns)).toBe(1);
    const lastBusyStart = Math.max(...busyRuns.map((r) => r.started_at.getTime()));
    // It did not queue behind the saturated agent's backlog.
    expect(idleRun.finished_at.getTime()).toBeLessThan(lastBusyStart);
  });

  it('accepts a message while Redis is down (202) and processes it once Redis is back', async () => {
    const projectId = await createProject(t.http, user, 'redis-down');
    const sid = await createSession(t.http, user, projectId);
    await redis.stop();
    await waitFor(
      'the API to notice Redis is gone',
      async () => (await t.http.get('/ready')).status === 503,
      10_000,
    );

    const accepted = await sendMessage(t.http, user, projectId, sid, {
      content: 'sent during the outage',
    });
    expect(accepted.run.status).toBe('queued');
    const [{ n }] = await t.app
      .get(MikroORM)
      .em.getConnection()
      .execute<{ n: number }[]>('select count(*)::int as n from run_outbox where run_id = ?', [
        accepted.run.id,
      ]);
    expect(n).toBe(1);

    await redis.start();
    const run = await waitForRun(
      t.http,
      user,
      projectId,
      sid,
      accepted.run.id,
      ['completed', 'failed'],
      60_000,
    );
    expect(run.status).toBe('completed');
  });

  it('completes the run of a worker killed with SIGKILL mid-run on the other worker, with exactly one reply', async () => {
    const projectId = await createProject(t.http, user, 'crash');
    const sid = await createSession(t.http, user, projectId);
    const { run } = await sendMessage(t.http, user, projectId, sid, {
      content: 'a long task '.repeat(20),
    });
    await waitForRun(t.http, user, projectId, sid, run.id, ['running'], 30_000);
    const [{ worker_id: holder }] = await rows([run.id]);
    const victim = workers.find(
      // worker_id is host:pid:random
      (w) => w.child.exitCode === null && holder?.split(':')[1] === String(w.child.pid),
    );
    expect(victim).toBeDefined();
    victim?.child.kill('SIGKILL');
    await withDeadline(
      'the killed worker to exit',
      victim?.exited ?? Promise.resolve(null),
      10_000,
    );

    const finished = await waitForRun(
      t.http,
      user,
      projectId,
      sid,
      run.id,
      ['completed', 'failed'],
      60_000,
    );
    expect(finished.status).toBe('completed');
    const [after] = await rows([run.id]);
    expect(after.worker_id).not.toBe(holder);
    const messages = (
      await t.http.get(`/v1/my/projects/${projectId}/sessions/${sid}/messages`).set(user.auth)
    ).body.items as { role: string }[];
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it('on SIGTERM hands a multi-step run back at a step boundary; another worker finishes it', async () => {
    // Two live workers (the crash test above killed one).
    const alive = () =>
      workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    while (alive().length < 2) await startWorker();
    const projectId = await createProject(t.http, user, 'drain');
    const agentId = await setLimit(projectId, 'DataAnalyst', 2);
    await t.http
      .patch(`/v1/my/projects/${projectId}/agents/${agentId}`)
      .set(user.auth)
      .send({ tools: ['test_read'] })
      .expect(200);
    const sid = await createSession(t.http, user, projectId, { agent: 'DataAnalyst' });
    const { run } = await sendMessage(t.http, user, projectId, sid, {
      content: Array.from(
        { length: 5 },
        (_, i) => `/tool test_read {"text":"${i}","delay_ms":700}`,
      ).join('\n'),
    });
    await waitForRun(t.http, user, projectId, sid, run.id, ['running'], 30_000);
    const [{ worker_id: holder }] = await rows([run.id]);
    const draining = alive().find((w) => holder?.split(':')[1] === String(w.child.pid));
    expect(draining).toBeDefined();
    const signalled = Date.now();
    draining!.child.kill('SIGTERM');
    // It does not run the remaining steps first: it stops at the next boundary and exits.
    expect(await withDeadline('the worker to exit', draining!.exited, 15_000)).toBe(0);
    const exitedAfterMs = Date.now() - signalled;
    expect(exitedAfterMs).toBeLessThan(3_000);

    const done = await waitForRun(
      t.http,
      user,
      projectId,
      sid,
      run.id,
      ['completed', 'failed'],
      60_000,
    );
    expect(done.status).toBe('completed');
    const steps = (
      await t.http
        .get(`/v1/my/projects/${projectId}/sessions/${sid}/runs/${run.id}/steps`)
        .set(user.auth)
        .expect(200)
    ).body.items as { kind: string; status: string; attempts: number }[];
    expect(steps).toHaveLength(11);
    // Nothing was left half-done: every step succeeded; at most a model turn or a read ran twice.
    for (const s of steps) {
      expect(s.status).toBe('succeeded');
      expect(s.attempts).toBeLessThanOrEqual(2);
    }
    const [after] = await rows([run.id]);
    expect(after.worker_id).not.toBe(holder);
  }, 120_000);
});
