import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig, REDIS } from '@codelab/platform';
import { REDIS_NOW_MS, WorkerLiveness } from './worker-liveness';

/*
 * Concurrency limits that hold across every worker process (open-source BullMQ has no per-group
 * concurrency):
 *
 * - one active run per session: a lease key `slots:session:<id>` = "<run id>|<worker id>", SET
 *   with a TTL;
 * - at most `concurrency_limit` active runs per agent: a sorted set `slots:agent:<id>` whose
 *   members are "<run id>|<worker id>" scored by their lease expiry.
 *
 * A lease is void when it expires OR when the worker it names is no longer alive (see
 * WorkerLiveness): a crashed worker's slots free within the liveness TTL (seconds), not the lease
 * TTL. Holders renew their leases; a holder whose lease was taken over (it was paused past its
 * liveness) learns it on renewal and stops. A run that cannot get both slots does not hold a
 * worker: its job is delayed, and it registers in a waiters set so whoever frees a slot can promote
 * it at once. All times are Redis server time.
 */

const HELPERS = `${REDIS_NOW_MS}
local function worker_of(holder) return string.match(holder, '|(.+)$') end
local function alive(worker, now)
  local expiry = redis.call('ZSCORE', KEYS[3], worker)
  return expiry and tonumber(expiry) > now
end
`;

const ACQUIRE = `${HELPERS}
-- KEYS: session lease, agent set, alive set; ARGV: holder "<run>|<worker>", ttl ms, agent limit, run id
local now = now_ms()
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local w = worker_of(holder)
  if not w or alive(w, now) then return 'session' end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local mine = false
local count = 0
local prefix = ARGV[4] .. '|'
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local w = worker_of(member)
  if member == ARGV[1] then
    mine = true
  elseif string.sub(member, 1, #prefix) == prefix or (w and not alive(w, now)) then
    -- This run's own stale lease, or a dead worker's: void.
    redis.call('ZREM', KEYS[2], member)
  else
    count = count + 1
  end
end
if not mine and count >= tonumber(ARGV[3]) then return 'agent' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 'ok'
`;

const RENEW = `${REDIS_NOW_MS}
-- KEYS: session lease, agent set; ARGV: holder, ttl ms
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`;

const RELEASE = `
-- KEYS: session lease, agent set; ARGV: holder
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

const RELEASE_RETRY_MS = 1_000;

@Injectable()
export class RunSlots implements OnApplicationShutdown {
  readonly leaseTtlMs: number;
  private waiterSeq = 0;
  // Releases that failed (Redis down): a live worker's stale lease would block its session and
  // count against its agent until the lease TTL, so they are retried until Redis takes them.
  private readonly unreleased = new Map<string, SlotRequest>();
  private retryTimer?: NodeJS.Timeout;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly liveness: WorkerLiveness,
  ) {
    this.leaseTtlMs = config.runLeaseTtlMs;
  }

  private keys(r: Pick<SlotRequest, 'sessionId' | 'agentId'>): [string, string] {
    const p = this.config.redisKeyPrefix;
    return [`${p}slots:session:${r.sessionId}`, `${p}slots:agent:${r.agentId}`];
  }

  private holder(r: Pick<SlotRequest, 'runId'>): string {
    return `${r.runId}|${this.liveness.workerId}`;
  }

  private waitersKey(kind: 'session' | 'agent', id: string): string {
    return `${this.config.redisKeyPrefix}slots:waiters:${kind}:${id}`;
  }

  async acquire(r: SlotRequest): Promise<AcquireResult> {
    return (await this.redis.eval(
      ACQUIRE,
      3,
      ...this.keys(r),
      this.liveness.key,
      this.holder(r),
      this.leaseTtlMs,
      r.agentLimit,
      r.runId,
    )) as AcquireResult;
  }

  /** False when the lease was lost (expired, or voided and taken over): the holder must stop. */
  async renew(r: SlotRequest): Promise<boolean> {
    return (
      (await this.redis.eval(RENEW, 2, ...this.keys(r), this.holder(r), this.leaseTtlMs)) === 1
    );
  }

  async release(r: SlotRequest): Promise<void> {
    try {
      await this.redis.eval(RELEASE, 2, ...this.keys(r), this.holder(r));
      this.unreleased.delete(this.holder(r));
    } catch (error) {
      this.unreleased.set(this.holder(r), r);
      this.retryTimer ??= setInterval(() => void this.retryReleases(), RELEASE_RETRY_MS).unref();
      throw error;
    }
  }

  /** Slots this worker still has to give back (for tests and metrics). */
  get pendingReleases(): number {
    return this.unreleased.size;
  }

  private async retryReleases(): Promise<void> {
    for (const r of [...this.unreleased.values()]) {
      if (
        !(await this.release(r).then(
          () => true,
          () => false,
        ))
      )
        return;
    }
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
  }

  onApplicationShutdown(): void {
    // A stopped worker deregisters from liveness, which voids whatever it still holds.
    clearInterval(this.retryTimer);
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

  /** Run ids holding an unexpired agent lease right now (for tests and metrics). */
  async agentHolders(agentId: string): Promise<string[]> {
    const [, key] = this.keys({ sessionId: '-', agentId });
    const members = await this.redis.zrangebyscore(key, Date.now(), '+inf');
    return members.map((m) => m.split('|')[0]);
  }
}
