import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { type AppConfig, loadConfig } from '@codelab/platform';
import { RunSlots, type SlotRequest } from './run-slots';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('RunSlots (real Redis)', () => {
  let redis: Redis;
  let config: AppConfig;
  let slots: RunSlots;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    await redis.ping();
    config = loadConfig({
      NODE_ENV: 'test',
      JWT_SECRET: 'x'.repeat(40),
      REDIS_KEY_PREFIX: `codelab-test:${randomBytes(4).toString('hex')}:`,
      RUN_LEASE_TTL_MS: '1000',
    });
    slots = new RunSlots(redis, config);
  });
  afterAll(async () => {
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
