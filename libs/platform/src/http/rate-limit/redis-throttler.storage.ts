import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import type { Redis } from 'ioredis';

// One round trip, atomic: a blocked key answers from its block marker; otherwise count the hit in
// a fixed window and start a block when the limit is passed. Times come back in milliseconds.
const INCREMENT_SCRIPT = `
local blockTtl = redis.call('PTTL', KEYS[2])
if blockTtl > 0 then
  return {tonumber(redis.call('GET', KEYS[1]) or '0'), blockTtl, 1, blockTtl}
end
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local windowTtl = redis.call('PTTL', KEYS[1])
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return {hits, windowTtl, 1, tonumber(ARGV[3])}
end
return {hits, windowTtl, 0, 0}
`;

const THROTTLE_COMMAND = 'codelabThrottle';
type ThrottleCommand = (this: Redis, ...args: string[]) => Promise<unknown>;

/**
 * Rate-limit counters in Redis, so a limit holds across every API replica. When Redis is
 * unreachable the request is let through (and counted): an outage of the limiter must not take
 * the API down with it.
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger(RedisThrottlerStorage.name);

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onStorageError: () => void = () => undefined,
  ) {
    // EVALSHA, not the script's text on every request (ioredis loads it again after NOSCRIPT).
    if (!(THROTTLE_COMMAND in redis))
      redis.defineCommand(THROTTLE_COMMAND, { numberOfKeys: 2, lua: INCREMENT_SCRIPT });
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const hitsKey = `${this.prefix}throttle:${throttlerName}:${key}`;
    try {
      // While disconnected, don't make every request wait for ioredis' reconnect attempt.
      if (this.redis.status !== 'ready')
        throw new Error(`Redis connection is ${this.redis.status}`);
      const throttle = (this.redis as unknown as Record<string, ThrottleCommand>)[THROTTLE_COMMAND];
      const [totalHits, windowMs, blocked, blockMs] = (await throttle.call(
        this.redis,
        hitsKey,
        `${hitsKey}:blocked`,
        String(ttl),
        String(limit),
        String(blockDuration > 0 ? blockDuration : ttl),
      )) as [number, number, number, number];
      return {
        totalHits,
        timeToExpire: Math.max(0, Math.ceil(windowMs / 1000)),
        isBlocked: blocked === 1,
        timeToBlockExpire: Math.max(0, Math.ceil(blockMs / 1000)),
      };
    } catch (error) {
      this.onStorageError();
      this.logger.warn(
        `Rate limiter storage unavailable, request allowed: ${(error as Error).message}`,
      );
      return {
        totalHits: 0,
        timeToExpire: Math.ceil(ttl / 1000),
        isBlocked: false,
        timeToBlockExpire: 0,
      };
    }
  }
}
