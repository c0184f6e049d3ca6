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
    runId: string = randomUUID(),
    dispatch = 1,
  ): SlotRequest => ({ runId, dispatch, agentId, agentLimit: limit });

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

  it('lets a run execute in one place: re-acquiring by the holder is idempotent, another worker or dispatch is refused', async () => {
    const other = await otherWorker();
    const run = request(randomUUID(), 5);
    expect(await slots.acquire(run)).toBe('ok');
    expect(await slots.acquire(run)).toBe('ok');
    expect(await other.slots.acquire(run)).toBe('busy');
    // Another dispatch of the same run, even in this very process, waits for the first.
    const redispatched = { ...run, dispatch: 2 };
    expect(await slots.acquire(redispatched)).toBe('busy');
    // And the stale dispatch's release frees only its own lease.
    await slots.release(redispatched);
    expect(await slots.renew(run)).toBe(true);
    await slots.release(run);
    expect(await other.slots.acquire(run)).toBe('ok');
    await other.beat.stop();
  });

  it('frees the slot of a holder that stops renewing within the lease TTL', async () => {
    const agent = randomUUID();
    const stalled = request(agent, 1);
    const next = request(agent, 1);
    expect(await slots.acquire(stalled)).toBe('ok');
    expect(await slots.acquire(next)).toBe('agent');
    // Lease TTL is 1 s here (the worker itself is alive).
    expect(await acquireWithin(slots, next, 5_000)).toBe('ok');
    // The holder has lost its lease and learns it when it tries to renew: the agent is full.
    expect(await slots.renew(stalled)).toBe(false);
    expect(await slots.renew(next)).toBe(true);
  });

  it("frees a dead worker's slots within its liveness TTL, long before the lease TTL", async () => {
    const crashed = await otherWorker(60_000);
    const agent = randomUUID();
    const held = request(agent, 1);
    expect(await crashed.slots.acquire(held)).toBe('ok');
    const sameAgent = request(agent, 1);
    expect(await slots.acquire(sameAgent)).toBe('agent');
    expect(await slots.acquire(held)).toBe('busy');

    // kill -9: the heartbeat stops, nothing is cleaned up; the 60 s lease stays in Redis.
    const killedAt = Date.now();
    await crashed.beat.stop({ deregister: false });
    expect(await acquireWithin(slots, sameAgent, 3_000)).toBe('ok');
    // Liveness TTL is 600 ms here.
    expect(Date.now() - killedAt).toBeLessThan(3_000);
    await slots.release(sameAgent);
    // The run itself may now execute elsewhere (its job re-delivered).
    expect(await slots.acquire(held)).toBe('ok');
  });

  it('lets a live holder keep its slot, and a paused one learn it lost it', async () => {
    const paused = await otherWorker(60_000);
    const agent = randomUUID();
    const held = request(agent, 1);
    expect(await paused.slots.acquire(held)).toBe('ok');
    // Alive: no other worker may execute the run.
    expect(await slots.acquire(held)).toBe('busy');

    // Paused past its liveness TTL (SIGSTOP): another worker takes the run over.
    await paused.beat.stop({ deregister: false });
    expect(await acquireWithin(slots, held, 3_000)).toBe('ok');
    // Resumed: its renewal fails (the run executes elsewhere), so it stops.
    await paused.beat.start();
    expect(await paused.slots.renew(held)).toBe(false);
    expect(await slots.renew(held)).toBe(true);
    // And its late release does not free the new holder's slot.
    await paused.slots.release(held);
    expect(await slots.agentHolders(agent)).toEqual([held.runId]);
    await paused.beat.stop();
  });

  it('reaps a dead worker once: its leases go, its agents are reported for wake-up', async () => {
    const crashed = await otherWorker(60_000);
    const held = request(randomUUID(), 2);
    expect(await crashed.slots.acquire(held)).toBe('ok');
    // Alive: not reaped (earlier tests' dead workers may be).
    expect((await slots.reapDeadWorkers()).agents).not.toContain(held.agentId);

    await crashed.beat.stop({ deregister: false });
    const deadline = Date.now() + 3_000;
    let reaped = await slots.reapDeadWorkers();
    while (!reaped.agents.includes(held.agentId) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      reaped = await slots.reapDeadWorkers();
    }
    expect(reaped.agents).toEqual([held.agentId]);
    // The execution it abandoned, for re-dispatch.
    expect(reaped.abandoned).toEqual([
      { runId: held.runId, dispatch: held.dispatch, workerId: crashed.beat.workerId },
    ]);
    expect(await slots.agentHolders(held.agentId)).toEqual([]);
    expect(
      await redis.exists(`${config.redisKeyPrefix}workers:holds:${crashed.beat.workerId}`),
    ).toBe(0);
    // Reaped once: another reaper finds nothing.
    expect(await crashed.slots.reapDeadWorkers()).toEqual({ agents: [], abandoned: [] });
  });

  it('a graceful stop marks the worker dead at once, and a release drops the hold', async () => {
    const leaving = await otherWorker(60_000);
    const held = request(randomUUID(), 2);
    const released = request(randomUUID(), 2);
    expect(await leaving.slots.acquire(held)).toBe('ok');
    expect(await leaving.slots.acquire(released)).toBe('ok');
    await leaving.slots.release(released);
    await leaving.beat.stop();
    const { agents: freed } = await slots.reapDeadWorkers();
    expect(freed).toContain(held.agentId);
    expect(freed).not.toContain(released.agentId);
  });

  it('a renewal takes back a lease voided while its worker was away, if the agent has room', async () => {
    const paused = await otherWorker(60_000);
    const agent = randomUUID();
    const held = request(agent, 1);
    expect(await paused.slots.acquire(held)).toBe('ok');
    await paused.beat.stop({ deregister: false });
    const reapedWithin = async (ms: number) => {
      const deadline = Date.now() + ms;
      while (!(await slots.reapDeadWorkers()).agents.includes(agent) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
    };
    // Reaped while paused; nobody took the agent's only slot.
    await reapedWithin(3_000);
    await paused.beat.start();
    expect(await paused.slots.renew(held)).toBe(true);
    expect(await slots.agentHolders(agent)).toEqual([held.runId]);
    // Had another run taken the slot, the renewal would fail instead.
    await paused.beat.stop({ deregister: false });
    await reapedWithin(3_000);
    const other = request(agent, 1);
    expect(await slots.acquire(other)).toBe('ok');
    await paused.beat.start();
    expect(await paused.slots.renew(held)).toBe(false);
    await paused.beat.stop();
  });

  it('wakes the oldest waiters and drops stale ones on the way', async () => {
    const agent = randomUUID();
    for (const job of ['stale.1', 'live.1', 'stale.2', 'live.2', 'live.3'])
      await slots.addWaiter(agent, job);
    const woken: string[] = [];
    const promote = async (jobId: string) => {
      if (jobId.startsWith('stale')) return false;
      woken.push(jobId);
      return true;
    };
    expect(await slots.wake(agent, 2, promote)).toBe(2);
    expect(woken).toEqual(['live.1', 'live.2']);
    // The stale entries are gone, the rest still waits in order.
    expect(await slots.waiters(agent, 10)).toEqual(['live.3']);
  });

  it('lists waiters oldest first and forgets them', async () => {
    const agent = randomUUID();
    const jobs = ['a.1', 'b.1', 'c.1'];
    for (const job of jobs) await slots.addWaiter(agent, job);
    expect(await slots.waiters(agent, 2)).toEqual(['a.1', 'b.1']);
    await slots.removeWaiter(agent, 'a.1');
    expect(await slots.waiters(agent, 5)).toEqual(['b.1', 'c.1']);
  });
});
