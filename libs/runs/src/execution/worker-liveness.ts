import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig, REDIS, ThrottledLog } from '@codelab/platform';

// Redis server time in ms: every process compares against one clock, whatever its own says.
export const REDIS_NOW_MS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

const BEAT = `${REDIS_NOW_MS}
-- KEYS: alive set; ARGV: worker id, ttl ms
local now = now_ms()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
-- Forget workers dead for an hour; their leases expired long ago.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)
return 1
`;

/**
 * This process's identity as a run executor, and its heartbeat: a sorted set `workers:alive`
 * scored by each worker's expiry (Redis time), renewed every third of the TTL. Slot leases name
 * the worker that holds them, so a worker that stops beating (kill -9, lost host) loses its slots
 * within WORKER_LIVENESS_TTL_MS, however long the leases themselves were granted for.
 */
@Injectable()
export class WorkerLiveness {
  /** How often the worker beats (and reaps others). */
  get beatIntervalMs(): number {
    return Math.max(100, Math.floor(this.ttlMs / 4));
  }

  /** host:pid:random — the random part keeps a restarted process with a reused pid distinct. */
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly log = new ThrottledLog(new Logger(WorkerLiveness.name));
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  get key(): string {
    return `${this.config.redisKeyPrefix}workers:alive`;
  }

  get ttlMs(): number {
    return this.config.workerLivenessTtlMs;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.beatIntervalMs);
    this.timer.unref();
  }

  /**
   * Stops beating. Graceful by default: the worker declares itself dead at once, so the next
   * reaper frees whatever it still holds. Without that it is what a crash looks like to the others.
   */
  async stop({ deregister = true } = {}): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (deregister) await this.redis.zadd(this.key, 0, this.workerId).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    try {
      await this.redis.eval(BEAT, 1, this.key, this.workerId, this.ttlMs);
    } catch (error) {
      this.log.warn('beat', `Worker heartbeat failed: ${(error as Error).message}`);
    }
  }
}
