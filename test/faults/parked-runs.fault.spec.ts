import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createTestApp, registerUser, type TestApp, type TestUser } from '../support/test-app';
import { waitFor } from '../support/child-process';
import { PrivateRedis } from '../support/private-redis';
import { createProject, createSession, sendMessage, waitForRun } from '../support/sessions-helpers';
import { WorkerFleet, workerEnvFor } from '../support/worker-fleet';
import { envInt, faultMetrics, RunsDb, seconds } from '../support/fault-support';

/*
 * 1,000 runs park (a test tool that always asks to wait) on ONE agent limited to one run at a
 * time. Required while they are parked: no job in the queue (waiting, active or delayed), no agent
 * slot held, Redis as quiet as with nothing parked (no polling per parked run), and another
 * session of the same agent answered at full speed.
 */
const PARKED = envInt('FAULT_PARKED_RUNS', 1_000);
const WINDOW_MS = 10_000;

describe('1,000 parked runs hold nothing (fault)', () => {
  const redis = new PrivateRedis();
  let t: TestApp;
  let db: RunsDb;
  let user: TestUser;
  let fleet: WorkerFleet;
  let probe: Redis;

  beforeAll(async () => {
    await redis.start();
    t = await createTestApp({ env: { APP_ROLE: 'api', REDIS_URL: redis.url } });
    db = new RunsDb(t.config.databaseUrl);
    user = await registerUser(t.http);
    fleet = new WorkerFleet({
      env: workerEnvFor(t, redis.url, { WORKER_CONCURRENCY: '16', LOG_LEVEL: 'warn' }),
    });
    await fleet.start(1);
    probe = new Redis(redis.url);
  }, 120_000);

  afterAll(async () => {
    probe?.disconnect();
    await fleet?.destroy().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await t?.close().catch(() => undefined);
    await redis.destroy();
  }, 60_000);

  /** Commands Redis processed per second over a window (INFO stats), minus the probe's own. */
  const commandRate = async (): Promise<number> => {
    const total = async () =>
      Number(/total_commands_processed:(\d+)/.exec(await probe.info('stats'))?.[1] ?? NaN);
    const before = await total();
    const started = Date.now();
    // The measurement window itself (nothing is waited for: the rate over it is the result).
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    const after = await total();
    return (after - before - 1) / ((Date.now() - started) / 1000);
  };

  const answerTime = async (projectId: string) => {
    const sid = await createSession(t.http, user, projectId, { agent: 'DocumentWriter' });
    const sent = Date.now();
    const { run } = await sendMessage(t.http, user, projectId, sid, { content: 'quick question' });
    const done = await waitForRun(t.http, user, projectId, sid, run.id, undefined, 30_000);
    expect(done.status).toBe('completed');
    return Date.now() - sent;
  };

  it(
    'keeps no run job, no slot and no Redis traffic for runs parked on 1,000 pending approvals, and serves the agent meanwhile',
    async () => {
      const projectId = await createProject(t.http, user, 'parked');
      const agents = (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(user.auth)).body
        .items as { id: string; name: string }[];
      const writer = agents.find((a) => a.name === 'DocumentWriter')!;
      await t.http
        .patch(`/v1/my/projects/${projectId}/agents/${writer.id}`)
        .set(user.auth)
        // Each run asks for a write the policy wants approved: it parks on a pending approval.
        .send({
          tools: ['test_write'],
          approval_tools: ['test_write'],
          concurrency_limit: 1,
          memory_enabled: false,
        })
        .expect(200);

      // Baselines with nothing parked.
      const idleRate = await commandRate();
      const answerBefore = await answerTime(projectId);

      const started = Date.now();
      for (let i = 0; i < PARKED; i += 50)
        await Promise.all(
          Array.from({ length: Math.min(50, PARKED - i) }, async () => {
            const sid = await createSession(t.http, user, projectId, { agent: 'DocumentWriter' });
            await sendMessage(t.http, user, projectId, sid, {
              content: 'needs a decision\n/tool test_write {"key":"waits for a human"}',
            });
          }),
        );
      await waitFor(
        `${PARKED} runs to park`,
        async () => {
          const [{ n }] = await db.query<{ n: number }>(
            `select count(*)::int as n from runs where status = 'awaiting_approval'`,
          );
          return n === PARKED;
        },
        5 * 60_000,
      );
      const parkedInMs = Date.now() - started;
      const [{ pending }] = await db.query<{ pending: number }>(
        `select count(*)::int as pending from approvals where status = 'pending'`,
      );

      const jobs = await t.app
        .get<Queue>(getQueueToken('agent-runs'))
        .getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      const slotKey = `${t.config.redisKeyPrefix}slots:agent:${writer.id}`;
      const slotsHeld = await probe.zcount(slotKey, Date.now(), '+inf');
      const waiters = await probe.zcard(
        `${t.config.redisKeyPrefix}slots:waiters:agent:${writer.id}`,
      );
      const parkedRate = await commandRate();
      const answerWhileParked = await answerTime(projectId);
      const cpu = fleet.cpuSeconds(0);

      faultMetrics('parked-runs', {
        parked: PARKED,
        pending_approvals: pending,
        parked_in_s: seconds(parkedInMs),
        jobs,
        agent_slots_held: slotsHeld,
        slot_waiters: waiters,
        redis_commands_per_s_idle: Math.round(idleRate * 10) / 10,
        redis_commands_per_s_parked: Math.round(parkedRate * 10) / 10,
        answer_ms_before: answerBefore,
        answer_ms_while_parked: answerWhileParked,
        worker_cpu_s: cpu,
      });

      expect(pending).toBe(PARKED);
      expect(jobs).toEqual({ waiting: 0, active: 0, delayed: 0, prioritized: 0 });
      expect(slotsHeld).toBe(0);
      expect(waiters).toBe(0);
      // Parked runs add no Redis traffic: the rate is the idle one (heartbeats, queue upkeep).
      expect(parkedRate).toBeLessThan(idleRate * 1.25 + 2);
      // The agent (one run at a time) answers another session as it did before.
      expect(answerWhileParked).toBeLessThan(Math.max(2_000, answerBefore * 4));
    },
    15 * 60_000,
  );
});
