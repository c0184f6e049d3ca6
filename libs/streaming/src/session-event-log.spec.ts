import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '@codelab/platform';
import { compareStreamIds, parseStreamId, SessionEventLog } from './session-event-log';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('SessionEventLog (real Redis)', () => {
  let redis: Redis;
  let log: SessionEventLog;
  const prefix = `codelab-test:${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    await redis.ping();
    const config = loadConfig({
      NODE_ENV: 'test',
      JWT_SECRET: 'x'.repeat(40),
      REDIS_KEY_PREFIX: prefix,
      STREAM_MAX_LENGTH: '3',
      STREAM_TTL_MS: '60000',
    });
    log = new SessionEventLog(redis, config);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  const append = (sessionId: string, i: number) =>
    log.append({
      type: 'token',
      session_id: sessionId,
      run_id: null,
      agent_id: null,
      ts: new Date().toISOString(),
      payload: { i },
    });

  it('caps the stream, sets a TTL, and tells a trimmed position from a resumable one', async () => {
    const sid = randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await append(sid, i));
    const kept = await log.all(sid);
    expect(kept.map((e) => e.id)).toEqual(ids.slice(3));
    expect(await redis.pttl(log.key(sid))).toBeGreaterThan(50_000);

    // The client saw ids[1]; ids[2] was trimmed: it cannot be served without a gap.
    expect(await log.canResumeFrom(sid, ids[1])).toBe(false);
    // Positions older than the first retained entry are treated as trimmed (conservative).
    expect(await log.canResumeFrom(sid, ids[2])).toBe(false);
    expect(await log.canResumeFrom(sid, ids[3])).toBe(true);
    expect((await log.after(sid, ids[3])).map((e) => e.id)).toEqual(ids.slice(4));
    expect(await log.canResumeFrom(sid, ids[5])).toBe(true);
    expect(await log.after(sid, ids[5])).toEqual([]);
    expect(await log.canResumeFrom(randomUUID(), ids[5])).toBe(false);
    expect(await log.canResumeFrom(sid, 'garbage')).toBe(false);
    expect(await log.lastId(sid)).toBe(ids[5]);
  });

  it('refuses positions the stream never issued: newer than its last entry, or past 64 bits', async () => {
    const sid = randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push(await append(sid, i));
    const [ms, seq] = ids[1].split('-').map(BigInt);
    expect(await log.canResumeFrom(sid, ids[0])).toBe(true);
    expect(await log.canResumeFrom(sid, ids[1])).toBe(true);
    expect(await log.canResumeFrom(sid, `${ms}-${seq + 1n}`)).toBe(false);
    expect(await log.canResumeFrom(sid, `${ms + 1n}-0`)).toBe(false);
    expect(await log.canResumeFrom(sid, '18446744073709551615-18446744073709551615')).toBe(false);
    expect(await log.canResumeFrom(sid, '99999999999999999999-0')).toBe(false);
    expect(await log.canResumeFrom(sid, `${ms}-99999999999999999999`)).toBe(false);
  });

  it('parses stream ids within Redis 64-bit range only', () => {
    expect(parseStreamId('1795306483949-0')).toEqual([1795306483949n, 0n]);
    expect(parseStreamId('18446744073709551615-18446744073709551615')).toEqual([
      2n ** 64n - 1n,
      2n ** 64n - 1n,
    ]);
    expect(parseStreamId('18446744073709551616-0')).toBeNull();
    expect(parseStreamId('0-18446744073709551616')).toBeNull();
    expect(parseStreamId('99999999999999999999-99999999999999999999')).toBeNull();
    expect(parseStreamId('1-2-3')).toBeNull();
    expect(parseStreamId('-1-0')).toBeNull();
    expect(parseStreamId('')).toBeNull();
  });

  it('compares stream ids numerically', () => {
    expect(compareStreamIds('10-0', '9-5')).toBeGreaterThan(0);
    expect(compareStreamIds('5-10', '5-9')).toBeGreaterThan(0);
    expect(compareStreamIds('5-1', '5-1')).toBe(0);
  });
});
