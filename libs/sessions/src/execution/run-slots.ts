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
 * WorkerLiveness). Each worker also lists what it holds (`workers:holds:<worker id>`), so the first
 * worker to notice a dead one (reap) frees its slots at once and wakes whoever waits for them: a
 * crashed worker's slots free within the liveness TTL, not the lease TTL. Holders renew their
 * leases; a holder whose session lease was taken over (it was paused past its liveness) learns it
 * on renewal and stops. A run that cannot get both slots does not hold a worker: its job is
 * delayed, and it registers in a waiters set so whoever frees a slot can promote it at once. All
 * times are Redis server time. (Keys of other workers are derived inside the scripts: CodeLab's
 * Redis is a single node, not a cluster.)
 */

const HELPERS = `${REDIS_NOW_MS}
local function worker_of(holder) return string.match(holder, '|(.+)$') end
local function alive(worker, now)
  local expiry = redis.call('ZSCORE', KEYS[3], worker)
  return expiry and tonumber(expiry) > now
end
-- Live leases of the agent other than this run's; void ones are dropped on the way.
local function count_others(agent_key, holder, run_id, now)
  redis.call('ZREMRANGEBYSCORE', agent_key, '-inf', now)
  local mine, count, prefix = false, 0, run_id .. '|'
  for _, member in ipairs(redis.call('ZRANGE', agent_key, 0, -1)) do
    local w = worker_of(member)
    if member == holder then
      mine = true
    elseif string.sub(member, 1, #prefix) == prefix or (w and not alive(w, now)) then
      -- This run's own stale lease, or a dead worker's: void.
      redis.call('ZREM', agent_key, member)
    else
      count = count + 1
    end
  end
  return mine, count
end
local function hold(holder, ttl, now)
  redis.call('SET', KEYS[1], holder, 'PX', ttl)
  redis.call('ZADD', KEYS[2], now + tonumber(ttl), holder)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('SADD', KEYS[4], ARGV[5])
  redis.call('PEXPIRE', KEYS[4], 86400000)
end
`;

const ACQUIRE = `${HELPERS}
-- KEYS: session lease, agent set, alive set, this worker's holds
-- ARGV: holder "<run>|<worker>", ttl ms, agent limit, run id, hold entry "<session>|<agent>|<run>"
local now = now_ms()
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then
  local w = worker_of(current)
  if not w or alive(w, now) then return 'session' end
end
local mine, count = count_others(KEYS[2], ARGV[1], ARGV[4], now)
if not mine and count >= tonumber(ARGV[3]) then return 'agent' end
hold(ARGV[1], ARGV[2], now)
return 'ok'
`;

const RENEW = `${HELPERS}
-- KEYS and ARGV as ACQUIRE. The session lease must still be this holder's (or free: nobody else
-- may run a session's head run); an agent lease voided while the holder was away is taken back
-- if the agent has room, else the holder has lost it.
local now = now_ms()
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
local mine, count = count_others(KEYS[2], ARGV[1], ARGV[4], now)
if not mine and count >= tonumber(ARGV[3]) then return 0 end
hold(ARGV[1], ARGV[2], now)
return 1
`;

const RELEASE = `
-- KEYS: session lease, agent set, this worker's holds; ARGV: holder, hold entry
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[2])
return 1
`;

const REAP = `${REDIS_NOW_MS}
-- KEYS: alive set; ARGV: key prefix. Frees the slots of workers whose liveness lapsed; removing a
-- worker from the alive set is the claim, so each dead worker is reaped once.
local now = now_ms()
local freed = {}
for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 10)) do
  redis.call('ZREM', KEYS[1], w)
  local holds = ARGV[1] .. 'workers:holds:' .. w
  for _, entry in ipairs(redis.call('SMEMBERS', holds)) do
    local session, agent, run = string.match(entry, '^([^|]+)|([^|]+)|([^|]+)$')
    if session then
      local holder = run .. '|' .. w
      local lease = ARGV[1] .. 'slots:session:' .. session
      if redis.call('GET', lease) == holder then redis.call('DEL', lease) end
      redis.call('ZREM', ARGV[1] .. 'slots:agent:' .. agent, holder)
      table.insert(freed, session .. '|' .. agent)
    end
  end
  redis.call('DEL', holds)
end
return freed
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

  private holdsKey(): string {
    return `${this.config.redisKeyPrefix}workers:holds:${this.liveness.workerId}`;
  }

  /** KEYS and ARGV shared by ACQUIRE and RENEW. */
  private leaseArgs(r: SlotRequest): (string | number)[] {
    return [
      4,
      ...this.keys(r),
      this.liveness.key,
      this.holdsKey(),
      this.holder(r),
      this.leaseTtlMs,
      r.agentLimit,
      r.runId,
      `${r.sessionId}|${r.agentId}|${r.runId}`,
    ];
  }

  private waitersKey(kind: 'session' | 'agent', id: string): string {
    return `${this.config.redisKeyPrefix}slots:waiters:${kind}:${id}`;
  }

  async acquire(r: SlotRequest): Promise<AcquireResult> {
    return (await this.redis.eval(ACQUIRE, ...(this.leaseArgs(r) as [number]))) as AcquireResult;
  }

  /** False when the lease was lost (taken over, or voided and the agent refilled): stop. */
  async renew(r: SlotRequest): Promise<boolean> {
    return (await this.redis.eval(RENEW, ...(this.leaseArgs(r) as [number]))) === 1;
  }

  /**
   * Frees the slots of workers whose liveness lapsed (any live worker may call it; each dead
   * worker is reaped once) and returns the sessions and agents that got room.
   */
  async reapDeadWorkers(): Promise<Pick<SlotRequest, 'sessionId' | 'agentId'>[]> {
    const freed = (await this.redis.eval(
      REAP,
      1,
      this.liveness.key,
      this.config.redisKeyPrefix,
    )) as string[];
    return freed.map((entry) => {
      const [sessionId, agentId] = entry.split('|');
      return { sessionId, agentId };
    });
  }

  async release(r: SlotRequest): Promise<void> {
    try {
      await this.redis.eval(
        RELEASE,
        3,
        ...this.keys(r),
        this.holdsKey(),
        this.holder(r),
        `${r.sessionId}|${r.agentId}|${r.runId}`,
      );
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
