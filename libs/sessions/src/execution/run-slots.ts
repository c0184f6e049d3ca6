import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig, REDIS } from '@codelab/platform';

/*
 * Concurrency limits that hold across every worker process (open-source BullMQ has no per-group
 * concurrency):
 *
 * - one active run per session: a lease key `slots:session:<id>` = run id, SET NX with a TTL;
 * - at most `concurrency_limit` active runs per agent: a sorted set `slots:agent:<id>` whose
 *   members are run ids scored by their lease expiry; expired members are evicted before counting.
 *
 * Holders renew their leases every few seconds; a crashed worker stops renewing, so its slots free
 * themselves within the lease TTL. A run that cannot get both slots does not hold a worker: its
 * job is delayed, and it registers in a waiters set so whoever frees a slot can promote it at
 * once. All state is in Redis keys on the shared command connection: no connection per agent.
 */

const ACQUIRE = `
-- KEYS: session lease, agent set; ARGV: run id, now ms, ttl ms, agent limit
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 'session' end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return 'agent'
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 'ok'
`;

const RENEW = `
-- KEYS: session lease, agent set; ARGV: run id, now ms, ttl ms
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], 'XX', tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`;

const RELEASE = `
-- KEYS: session lease, agent set; ARGV: run id
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

export type AcquireResult = 'ok' | 'session' | 'agent';

export interface SlotRequest {
  runId: string;
  sessionId: string;
  agentId: string;
  agentLimit: number;
}

@Injectable()
export class RunSlots {
  readonly leaseTtlMs: number;
  private waiterSeq = 0;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.leaseTtlMs = config.runLeaseTtlMs;
  }

  private keys(r: Pick<SlotRequest, 'sessionId' | 'agentId'>): [string, string] {
    const p = this.config.redisKeyPrefix;
    return [`${p}slots:session:${r.sessionId}`, `${p}slots:agent:${r.agentId}`];
  }

  private waitersKey(kind: 'session' | 'agent', id: string): string {
    return `${this.config.redisKeyPrefix}slots:waiters:${kind}:${id}`;
  }

  async acquire(r: SlotRequest): Promise<AcquireResult> {
    return (await this.redis.eval(
      ACQUIRE,
      2,
      ...this.keys(r),
      r.runId,
      Date.now(),
      this.leaseTtlMs,
      r.agentLimit,
    )) as AcquireResult;
  }

  /** False when the lease was lost (expired and taken): the holder must stop. */
  async renew(r: SlotRequest): Promise<boolean> {
    return (
      (await this.redis.eval(RENEW, 2, ...this.keys(r), r.runId, Date.now(), this.leaseTtlMs)) === 1
    );
  }

  async release(r: SlotRequest): Promise<void> {
    await this.redis.eval(RELEASE, 2, ...this.keys(r), r.runId);
  }

  /** Remembers that a run waits for a slot, oldest first, so a release can wake it. */
  async addWaiter(kind: 'session' | 'agent', id: string, runId: string): Promise<void> {
    const key = this.waitersKey(kind, id);
    // Milliseconds plus a per-process sequence as the fraction: same-millisecond waiters keep their order.
    this.waiterSeq = (this.waiterSeq + 1) % 1000;
    await this.redis
      .multi()
      .zadd(key, 'NX', Date.now() + this.waiterSeq / 1000, runId)
      .pexpire(key, 10 * 60_000)
      .exec();
  }

  async removeWaiter(r: SlotRequest): Promise<void> {
    await this.redis
      .multi()
      .zrem(this.waitersKey('session', r.sessionId), r.runId)
      .zrem(this.waitersKey('agent', r.agentId), r.runId)
      .exec();
  }

  /** The oldest runs waiting on this session or agent. */
  async waiters(r: Pick<SlotRequest, 'sessionId' | 'agentId'>, count: number): Promise<string[]> {
    const [s, a] = await Promise.all([
      this.redis.zrange(this.waitersKey('session', r.sessionId), 0, 0),
      this.redis.zrange(this.waitersKey('agent', r.agentId), 0, count - 1),
    ]);
    return [...new Set([...s, ...a])];
  }

  /** Active leases of an agent right now (for tests and metrics). */
  async agentHolders(agentId: string): Promise<string[]> {
    const [, key] = this.keys({ sessionId: '-', agentId });
    await this.redis.zremrangebyscore(key, '-inf', Date.now());
    return this.redis.zrange(key, 0, -1);
  }
}
