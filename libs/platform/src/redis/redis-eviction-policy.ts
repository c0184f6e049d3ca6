import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS } from './redis-token';

/** What Redis said about its eviction policy, and what (if anything) to warn about. */
export interface EvictionPolicyCheck {
  /** `maxmemory-policy` as Redis reports it; null when it could not be read. */
  policy: string | null;
  /** Where it was read: `CONFIG GET`, or `INFO memory` where CONFIG is disabled (managed Redis). */
  source: 'config' | 'info' | null;
  /** A warning to log: the policy lets Redis evict keys, or it could not be read. */
  warning: string | null;
}

/** The only policy under which Redis never drops a key CodeLab needs (BullMQ requires it). */
export const REQUIRED_EVICTION_POLICY = 'noeviction';

/**
 * Reads Redis's `maxmemory-policy`: `CONFIG GET` first, then `INFO memory` (`maxmemory_policy`),
 * which managed services (ElastiCache, Memorystore, Azure Cache) answer where they disable or
 * rename CONFIG. Never throws: an unreadable policy is a warning, not a reason to stop.
 */
export async function checkRedisEvictionPolicy(redis: Redis): Promise<EvictionPolicyCheck> {
  let policy: string | null = null;
  let source: EvictionPolicyCheck['source'] = null;
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as unknown;
    // RESP2: ['maxmemory-policy', 'noeviction']; an empty array when the parameter is unknown.
    if (Array.isArray(reply) && typeof reply[1] === 'string') {
      policy = reply[1];
      source = 'config';
    }
  } catch {
    // CONFIG disabled, renamed or denied by an ACL: INFO says the same.
  }
  if (policy === null) {
    try {
      const match = /^maxmemory_policy:(\S+)/m.exec(await redis.info('memory'));
      if (match) {
        policy = match[1];
        source = 'info';
      }
    } catch {
      // Neither is allowed: say so below.
    }
  }
  return { policy, source, warning: evictionWarning(policy) };
}

function evictionWarning(policy: string | null): string | null {
  if (policy === REQUIRED_EVICTION_POLICY) return null;
  const consequence =
    'BullMQ requires "noeviction": under memory pressure Redis would silently drop queued and ' +
    'delayed run jobs, domain events, slot leases and session event streams.';
  const fix =
    'Set maxmemory-policy noeviction (redis.conf, `--maxmemory-policy noeviction`, or the parameter group of a managed Redis).';
  return policy === null
    ? `Could not read Redis's maxmemory-policy (CONFIG GET and INFO memory were refused); make sure it is "noeviction". ${consequence} ${fix}`
    : `Redis maxmemory-policy is "${policy}", not "noeviction". ${consequence} ${fix}`;
}

/**
 * Runs the eviction-policy check against the shared connection (at start, or when Redis first
 * answers if it was down then) and logs its warning; start-up never fails on it.
 */
@Injectable()
export class RedisEvictionPolicy {
  private readonly logger = new Logger('Redis');
  /** The outcome of the last check; undefined until Redis has answered one. */
  last?: EvictionPolicyCheck;

  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async check(): Promise<EvictionPolicyCheck> {
    const result = await checkRedisEvictionPolicy(this.redis);
    this.last = result;
    if (result.warning) this.logger.warn(result.warning);
    return result;
  }
}
