import type { RedisOptions } from 'bullmq';
import { type AppConfig } from '../config/app-config';

/**
 * The key prefix of every BullMQ queue of CodeLab: a queue's keys are `<prefix>:<queue name>:...`
 * (its waiting jobs are the list `<prefix>:<queue name>:wait`, which autoscalers read).
 */
export function bullmqPrefix(config: Pick<AppConfig, 'redisKeyPrefix'>): string {
  return `${config.redisKeyPrefix}bull`;
}

/**
 * Reconnect delay after the n-th failed attempt: 250 ms doubling to 5 s, with jitter so a fleet
 * of workers does not reconnect in lockstep when Redis returns.
 */
export function redisReconnectDelay(attempt: number): number {
  return Math.round(Math.min(5_000, 250 * 2 ** Math.min(attempt, 5)) * (0.8 + Math.random() * 0.4));
}

/**
 * ioredis options for a BullMQ object, per the role BullMQ documents for it
 * (docs.bullmq.io "Going to production"):
 * - `producer` (Queue): commands fail fast while Redis is down (no offline queue), so a request
 *   is never held; the outbox covers the gap.
 * - `consumer` (Worker): commands wait for the reconnect (offline queue on, no per-request retry
 *   limit), so the worker's main loop blocks instead of spinning on "Stream isn't writeable".
 */
export function bullmqConnection(config: AppConfig, role: 'producer' | 'consumer'): RedisOptions {
  const url = new URL(config.redisUrl);
  const base: RedisOptions = {
    host: url.hostname,
    port: Number(url.port || 6379),
    username: url.username || undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    tls: url.protocol === 'rediss:' ? {} : undefined,
    connectionName: `codelab-bullmq-${role}`,
    connectTimeout: 5_000,
    retryStrategy: redisReconnectDelay,
  };
  return role === 'producer'
    ? { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1 }
    : { ...base, enableOfflineQueue: true, maxRetriesPerRequest: null };
}
