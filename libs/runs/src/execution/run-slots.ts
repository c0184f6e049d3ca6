import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig, REDIS } from '@codelab/platform';
import { REDIS_NOW_MS, WorkerLiveness } from './worker-liveness';

/*
 * Limits that hold across every worker process (open-source BullMQ has no per-group concurrency):
 * at most `concurrency_limit` executing runs per agent, and a run executes in one place at a time.
 * Both live in one sorted set per agent, `slots:agent:<id>`, whose members are
 * "<run id>:<dispatch>|<worker id>" scored by their lease expiry: one holder per execution, so a
 * stale dispatch of a run cannot run beside (or release for) the current one. (Which run of a conversation may start is
 * decided in PostgreSQL by its lane; see RunLanes.)
 *
 * A lease is void when it expires OR when the worker it names is no longer alive (see
 * WorkerLiveness). Each worker also lists what it holds (`workers:holds:<worker id>`), so the first
 * worker to notice a dead one (reap) frees its slots at once and wakes whoever waits for them: a
 * crashed worker's slots free within the liveness TTL, not the lease TTL. A holder renews its
 * lease; one whose lease was taken over (it was paused past its liveness) learns it on renewal and
 * stops. A run that cannot get a slot does not hold a worker: its job is delayed and registered
 * as a waiter, promoted by whoever frees a slot. All times are Redis server time. (Other workers'
 * keys are derived inside the scripts: CodeLab's Redis is a single node, not a cluster.)
 */

const HELPERS = `${REDIS_NOW_MS}
local function worker_of(holder) return string.match(holder, '|(.+)$') end
local function alive(worker, now)
  local expiry = redis.call('ZSCORE', KEYS[2], worker)
  return expiry and tonumber(expiry) > now
end
-- KEYS: agent set, alive set, this worker's holds
-- ARGV: holder "<run>:<dispatch>|<worker>", ttl ms, agent limit, run id, hold entry "<agent>|<run>:<dispatch>"
-- Returns 'ok' (held now), 'busy' (the run executes elsewhere: another live worker, or another
-- dispatch of it here) or 'agent' (full).
local function take(now)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local mine, count, prefix = false, 0, ARGV[4] .. ':'
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local w = worker_of(member)
    if member == ARGV[1] then
      mine = true
    elseif string.sub(member, 1, #prefix) == prefix then
      if w and alive(w, now) then return 'busy' end
      redis.call('ZREM', KEYS[1], member)
    elseif w and not alive(w, now) then
      redis.call('ZREM', KEYS[1], member)
    else
      count = count + 1
    end
  end
  if not mine and count >= tonumber(ARGV[3]) then return 'agent' end
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[5])
  redis.call('PEXPIRE', KEYS[3], 86400000)
  return 'ok'
end
`;

const ACQUIRE = `${HELPERS}
return take(now_ms())
`;

// Renewal is a re-take: a lease voided while the holder was away (paused past its liveness) is
// taken back if the agent still has room, else the holder has lost it.
const RENEW = `${HELPERS}
if take(now_ms()) == 'ok' then return 1 end
return 0
`;

const RELEASE = `
-- KEYS: agent set, this worker's holds; ARGV: holder, hold entry
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
`;

const REAP = `${REDIS_NOW_MS}
-- KEYS: alive set; ARGV: key prefix. Frees the slots of workers whose liveness lapsed; removing a
-- worker from the alive set is the claim, so each dead worker is reaped once. Returns the agents
-- freed and the executions the dead workers held ("<run id>:<dispatch>|<worker>").
local now = now_ms()
local freed = {}
local held = {}
for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 10)) do
  redis.call('ZREM', KEYS[1], w)
  local holds = ARGV[1] .. 'workers:holds:' .. w
  for _, entry in ipairs(redis.call('SMEMBERS', holds)) do
    local agent, run = string.match(entry, '^([^|]+)|([^|]+)$') -- run = "<run id>:<dispatch>"
    if agent then
      redis.call('ZREM', ARGV[1] .. 'slots:agent:' .. agent, run .. '|' .. w)
      table.insert(freed, agent)
      table.insert(held, run .. '|' .. w)
    end
  end
  redis.call('DEL', holds)
end
return {freed, held}
`;

export type AcquireResult = 'ok' | 'busy' | 'agent';

export interface SlotRequest {
  runId: string;
  /** The dispatch being executed: the holder is this execution, not just the run. */
  dispatch: number;
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

  private agentKey(agentId: string): string {
    return `${this.config.redisKeyPrefix}slots:agent:${agentId}`;
  }

  private holder(r: Pick<SlotRequest, 'runId' | 'dispatch'>): string {
    return `${r.runId}:${r.dispatch}|${this.liveness.workerId}`;
  }

  private holdsKey(): string {
    return `${this.config.redisKeyPrefix}workers:holds:${this.liveness.workerId}`;
  }

  /** KEYS and ARGV shared by ACQUIRE and RENEW. */
  private leaseArgs(r: SlotRequest): (string | number)[] {
    return [
      3,
      this.agentKey(r.agentId),
      this.liveness.key,
      this.holdsKey(),
      this.holder(r),
      this.leaseTtlMs,
      r.agentLimit,
      r.runId,
      this.holdEntry(r),
    ];
  }

  private waitersKey(agentId: string): string {
    return `${this.config.redisKeyPrefix}slots:waiters:agent:${agentId}`;
  }

  private holdEntry(r: SlotRequest): string {
    return `${r.agentId}|${r.runId}:${r.dispatch}`;
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
   * worker is reaped once) and returns the agents that got room.
   */
  /** Frees dead workers' slots: the agents freed, and the executions they abandoned. */
  async reapDeadWorkers(): Promise<{
    agents: string[];
    abandoned: { runId: string; dispatch: number; workerId: string }[];
  }> {
    const [freed, held] = (await this.redis.eval(
      REAP,
      1,
      this.liveness.key,
      this.config.redisKeyPrefix,
    )) as [string[], string[]];
    const abandoned = held.flatMap((entry) => {
      const m = /^(.+):(\d+)\|(.+)$/.exec(entry);
      return m ? [{ runId: m[1], dispatch: Number(m[2]), workerId: m[3] }] : [];
    });
    return { agents: [...new Set(freed)], abandoned };
  }

  async release(r: SlotRequest): Promise<void> {
    try {
      await this.redis.eval(
        RELEASE,
        2,
        this.agentKey(r.agentId),
        this.holdsKey(),
        this.holder(r),
        this.holdEntry(r),
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

  /** Remembers that a run's job waits for an agent slot, oldest first, so a release can wake it. */
  async addWaiter(agentId: string, jobId: string): Promise<void> {
    const key = this.waitersKey(agentId);
    // Milliseconds plus a per-process sequence as the fraction: same-millisecond waiters keep their order.
    this.waiterSeq = (this.waiterSeq + 1) % 1000;
    await this.redis
      .multi()
      .zadd(key, 'NX', Date.now() + this.waiterSeq / 1000, jobId)
      .pexpire(key, 10 * 60_000)
      .exec();
  }

  async removeWaiter(agentId: string, jobId: string): Promise<void> {
    await this.redis.zrem(this.waitersKey(agentId), jobId);
  }

  /** The jobs waiting longest for this agent. */
  async waiters(agentId: string, count: number, offset = 0): Promise<string[]> {
    return this.redis.zrange(this.waitersKey(agentId), offset, offset + count - 1);
  }

  /**
   * Wakes the `count` jobs waiting longest for the agent, dropping stale entries on the way (jobs
   * that stopped waiting without taking a slot: cancelled, superseded, not their lane's turn).
   */
  async wake(
    agentId: string,
    count: number,
    promote: (jobId: string) => Promise<boolean>,
  ): Promise<number> {
    let woken = 0;
    for (let scanned = 0; woken < count && scanned < 50;) {
      const batch = await this.waiters(agentId, count, 0);
      if (batch.length === 0) break;
      for (const jobId of batch) {
        scanned++;
        if (await promote(jobId)) woken++;
        // Promoted or stale: either way it leaves the waiters (a promoted job that still cannot
        // get a slot registers again).
        await this.removeWaiter(agentId, jobId);
      }
    }
    return woken;
  }

  /** Run ids holding an unexpired agent lease right now (for tests and metrics). */
  async agentHolders(agentId: string): Promise<string[]> {
    const members = await this.redis.zrangebyscore(this.agentKey(agentId), Date.now(), '+inf');
    return members.map((m) => m.split(/[:|]/)[0]);
  }
}
