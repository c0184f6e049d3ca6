import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { type AppConfig, loadConfig } from '@codelab/platform';
import { RunSlots, type SlotRequest } from './run-slots';
import { WorkerLiveness } from './worker-liveness';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('RunSlots (real Redis)', () => {
  let redis: Redis;
  let config: AppConfig;
  let slots: RunSlots;
  let liveness: WorkerLiveness;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    await redis.ping();
    config = loadConfig({
      NODE_ENV: 'test',
      JWT_SECRET: 'x'.repeat(40),
      REDIS_KEY_PREFIX: `codelab-test:${randomBytes(4).toString('hex')}:`,
      RUN_LEASE_TTL_MS: '1000',
      WORKER_LIVENESS_TTL_MS: '600',
    });
    liveness = new WorkerLiveness(redis, config);
    await liveness.start();
    slots = new RunSlots(redis, config, liveness);
  });
  afterAll(async () => {
    await liveness.stop();
    const keys = await redis.keys(`${config.redisKeyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  const request = (
    agentId: string,
    limit: number,
    sessionId: string = randomUUID(),
  ): SlotRequest => ({
    runId: randomUUID(),
    sessionId,
    agentId,
    agentLimit: limit,
  });

  it('admits up to the agent limit, then refuses with the reason', async () => {
    const agent = randomUUID();
    const [a, b, c] = [request(agent, 2), request(agent, 2), request(agent, 2)];
    expect(await slots.acquire(a)).toBe('ok');
    expect(await slots.acquire(b)).toBe('ok');
    expect(await slots.acquire(c)).toBe('agent');
    expect((await slots.agentHolders(agent)).sort()).toEqual([a.runId, b.runId].sort());
    await slots.release(a);
    expect(await slots.acquire(c)).toBe('ok');
  });

  it('allows one run per session, and re-acquiring by the holder is idempotent', async () => {
    const session = randomUUID();
    const first = request(randomUUID(), 5, session);
    const second = request(randomUUID(), 5, session);
    expect(await slots.acquire(first)).toBe('ok');
    expect(await slots.acquire(first)).toBe('ok');
    expect(await slots.acquire(second)).toBe('session');
    await slots.release(first);
    expect(await slots.acquire(second)).toBe('ok');
  });

  it('frees the slots of a holder that stops renewing (crashed worker) within the lease TTL', async () => {
    const agent = randomUUID();
    const crashed = request(agent, 1);
    const next = request(agent, 1, crashed.sessionId);
    expect(await slots.acquire(crashed)).toBe('ok');
    expect(await slots.acquire(next)).not.toBe('ok');
    const deadline = Date.now() + 5_000;
    let outcome = await slots.acquire(next);
    while (outcome !== 'ok' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      outcome = await slots.acquire(next);
    }
    expect(outcome).toBe('ok');
    // The crashed holder has lost its lease and learns it when it tries to renew.
    expect(await slots.renew(crashed)).toBe(false);
    expect(await slots.renew(next)).toBe(true);
  });

  /** Another worker process: its own identity and heartbeat, the same Redis. */
  const otherWorker = async (leaseTtlMs = 60_000) => {
    const own = { ...config, runLeaseTtlMs: leaseTtlMs };
    const beat = new WorkerLiveness(redis, own);
    await beat.start();
    return { beat, slots: new RunSlots(redis, own, beat) };
  };

  const acquireWithin = async (s: RunSlots, r: SlotRequest, ms: number) => {
    const deadline = Date.now() + ms;
    let outcome = await s.acquire(r);
    while (outcome !== 'ok' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      outcome = await s.acquire(r);
    }
    return outcome;
  };

  it("frees a dead worker's slots within its liveness TTL, long before the lease TTL", async () => {
    const crashed = await otherWorker(60_000);
    const agent = randomUUID();
    const held = request(agent, 1);
    expect(await crashed.slots.acquire(held)).toBe('ok');
    const sameSession = request(randomUUID(), 5, held.sessionId);
    const sameAgent = request(agent, 1);
    expect(await slots.acquire(sameSession)).toBe('session');
    expect(await slots.acquire(sameAgent)).toBe('agent');

    // kill -9: the heartbeat stops, nothing is cleaned up; the 60 s leases stay in Redis.
    const killedAt = Date.now();
    await crashed.beat.stop({ deregister: false });
    expect(await acquireWithin(slots, sameAgent, 3_000)).toBe('ok');
    // The dead worker's session lease had most of its 60 s to go, and is void all the same.
    const sessionKey = `${config.redisKeyPrefix}slots:session:${held.sessionId}`;
    expect(await redis.pttl(sessionKey)).toBeGreaterThan(50_000);
    expect(await acquireWithin(slots, sameSession, 3_000)).toBe('ok');
    // Liveness TTL is 600 ms here.
    expect(Date.now() - killedAt).toBeLessThan(3_000);
  });

  it('lets a live holder keep its slots, and a paused one learn it lost them', async () => {
    const paused = await otherWorker(60_000);
    const held = request(randomUUID(), 1);
    expect(await paused.slots.acquire(held)).toBe('ok');
    // Alive: nobody may take the run's slots, not even another delivery of the same run.
    expect(await slots.acquire(held)).toBe('session');

    // Paused past its liveness TTL (SIGSTOP): another worker takes the run over.
    await paused.beat.stop({ deregister: false });
    expect(await acquireWithin(slots, held, 3_000)).toBe('ok');
    // Resumed: its renewal fails, so it stops instead of running alongside.
    await paused.beat.start();
    expect(await paused.slots.renew(held)).toBe(false);
    expect(await slots.renew(held)).toBe(true);
    // And its late release does not free the new holder's slots.
    await paused.slots.release(held);
    expect(await slots.renew(held)).toBe(true);
    await paused.beat.stop();
  });

  it('reaps a dead worker once: its leases go, its sessions and agents are reported for wake-up', async () => {
    const crashed = await otherWorker(60_000);
    const held = request(randomUUID(), 2);
    expect(await crashed.slots.acquire(held)).toBe('ok');
    const mine = { sessionId: held.sessionId, agentId: held.agentId };
    // Alive: not reaped (earlier tests' dead workers may be).
    expect(await slots.reapDeadWorkers()).not.toContainEqual(mine);

    await crashed.beat.stop({ deregister: false });
    const deadline = Date.now() + 3_000;
    let freed = await slots.reapDeadWorkers();
    while (!freed.some((f) => f.sessionId === mine.sessionId) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      freed = await slots.reapDeadWorkers();
    }
    expect(freed).toEqual([mine]);
    expect(await redis.exists(`${config.redisKeyPrefix}slots:session:${held.sessionId}`)).toBe(0);
    expect(await slots.agentHolders(held.agentId)).toEqual([]);
    expect(
      await redis.exists(`${config.redisKeyPrefix}workers:holds:${crashed.beat.workerId}`),
    ).toBe(0);
    // Reaped once: another reaper finds nothing.
    expect(await crashed.slots.reapDeadWorkers()).toEqual([]);
  });

  it('a graceful stop marks the worker dead at once, and a release drops the hold', async () => {
    const leaving = await otherWorker(60_000);
    const held = request(randomUUID(), 2);
    const released = request(randomUUID(), 2);
    expect(await leaving.slots.acquire(held)).toBe('ok');
    expect(await leaving.slots.acquire(released)).toBe('ok');
    await leaving.slots.release(released);
    await leaving.beat.stop();
    expect(await slots.reapDeadWorkers()).toEqual([
      { sessionId: held.sessionId, agentId: held.agentId },
    ]);
  });

  it('a renewal takes back an agent lease voided while its worker was away, if there is room', async () => {
    const paused = await otherWorker(60_000);
    const agent = randomUUID();
    const held = request(agent, 1);
    expect(await paused.slots.acquire(held)).toBe('ok');
    await paused.beat.stop({ deregister: false });
    // Reaped while paused; nobody took the agent's only slot.
    const deadline = Date.now() + 3_000;
    while ((await slots.reapDeadWorkers()).length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await paused.beat.start();
    expect(await paused.slots.renew(held)).toBe(true);
    expect(await slots.agentHolders(agent)).toEqual([held.runId]);
    // Had another run taken the slot, the renewal would fail instead.
    await paused.beat.stop({ deregister: false });
    while ((await slots.reapDeadWorkers()).length === 0 && Date.now() < deadline + 3_000)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const other = request(agent, 1);
    expect(await slots.acquire(other)).toBe('ok');
    await paused.beat.start();
    expect(await paused.slots.renew(held)).toBe(false);
    await paused.beat.stop();
  });

  it('lists waiters oldest first and forgets them', async () => {
    const agent = randomUUID();
    const waiting = [request(agent, 1), request(agent, 1), request(agent, 1)];
    for (const w of waiting) await slots.addWaiter('agent', agent, w.runId);
    expect(await slots.waiters({ sessionId: randomUUID(), agentId: agent }, 2)).toEqual([
      waiting[0].runId,
      waiting[1].runId,
    ]);
    await slots.removeWaiter(waiting[0]);
    expect(await slots.waiters({ sessionId: randomUUID(), agentId: agent }, 5)).toEqual([
      waiting[1].runId,
      waiting[2].runId,
    ]);
  });
});
