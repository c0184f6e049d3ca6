import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisThrottlerStorage } from './redis-throttler.storage';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('RedisThrottlerStorage (real Redis)', () => {
  const prefix = `codelab-test:${randomBytes(4).toString('hex')}:`;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    await redis.ping();
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  it('counts hits in a window and blocks past the limit', async () => {
    const storage = new RedisThrottlerStorage(redis, prefix);
    const hits = [];
    for (let i = 0; i < 3; i++)
      hits.push(await storage.increment('k1', 60_000, 3, 30_000, 'default'));
    expect(hits.map((h) => [h.totalHits, h.isBlocked])).toEqual([
      [1, false],
      [2, false],
      [3, false],
    ]);
    expect(hits[0].timeToExpire).toBeGreaterThan(55);
    expect(hits[0].timeToExpire).toBeLessThanOrEqual(60);

    const blocked = await storage.increment('k1', 60_000, 3, 30_000, 'default');
    expect(blocked.isBlocked).toBe(true);
    expect(blocked.timeToBlockExpire).toBeGreaterThan(25);
    expect(blocked.timeToBlockExpire).toBeLessThanOrEqual(30);

    // While blocked, further hits stay blocked and do not extend the block.
    const again = await storage.increment('k1', 60_000, 3, 30_000, 'default');
    expect(again.isBlocked).toBe(true);
    expect(again.timeToBlockExpire).toBeLessThanOrEqual(30);
  });

  it('keeps keys and throttlers apart', async () => {
    const storage = new RedisThrottlerStorage(redis, prefix);
    await storage.increment('k2', 60_000, 1, 60_000, 'auth');
    expect((await storage.increment('k2', 60_000, 1, 60_000, 'auth')).isBlocked).toBe(true);
    expect((await storage.increment('k3', 60_000, 1, 60_000, 'auth')).isBlocked).toBe(false);
    expect((await storage.increment('k2', 60_000, 1, 60_000, 'default')).isBlocked).toBe(false);
  });

  it('starts a new window when the old one expires', async () => {
    const storage = new RedisThrottlerStorage(redis, prefix);
    await storage.increment('k4', 200, 1, 200, 'default');
    expect((await storage.increment('k4', 200, 1, 200, 'default')).isBlocked).toBe(true);
    const deadline = Date.now() + 5_000;
    let record = await storage.increment('k4', 200, 1, 200, 'default');
    while (record.isBlocked && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      record = await storage.increment('k4', 200, 1, 200, 'default');
    }
    expect(record).toMatchObject({ isBlocked: false, totalHits: 1 });
  });

  it('lets requests through and reports it when Redis is unreachable', async () => {
    // Port 1 on loopback: nothing listens, connections are refused at once.
    const down = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', () => undefined);
    let errors = 0;
    const storage = new RedisThrottlerStorage(down, prefix, () => errors++);
    const record = await storage.increment('k5', 60_000, 1, 60_000, 'default');
    expect(record.isBlocked).toBe(false);
    expect(errors).toBe(1);
    down.disconnect();
  });
});
