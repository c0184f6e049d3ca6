import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Gauge } from 'prom-client';
import {
  APP_CONFIG,
  type AppConfig,
  createRedisClient,
  REDIS,
  ThrottledLog,
} from '@codelab/platform';
import { parseEntries, SessionEventLog } from './session-event-log';
import { type SseClient } from './sse-client';
import { SSE_CLIENTS } from './streaming.metrics';

interface Subscription {
  cursor: string;
  clients: Set<SseClient>;
}

/**
 * The process's one reader of session streams: a single blocking XREAD over every stream that has
 * listeners, dispatching to the subscribed clients — never a Redis connection per client. A
 * private "wake" stream interrupts the blocking read when the set of streams changes.
 */
@Injectable()
export class SessionStreamHub implements OnModuleDestroy, OnApplicationShutdown {
  private readonly throttled = new ThrottledLog(new Logger(SessionStreamHub.name));
  private readonly subs = new Map<string, Subscription>();
  private readonly clients = new Set<SseClient>();
  private reader?: Redis;
  private running = false;
  private readonly wakeKey: string;
  private heartbeat?: NodeJS.Timeout;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly log: SessionEventLog,
    @InjectMetric(SSE_CLIENTS) private readonly gauge: Gauge<string>,
  ) {
    this.wakeKey = `${config.redisKeyPrefix}events:wake:${randomUUID()}`;
  }

  /** Listeners currently registered (for leak checks). */
  get listenerCount(): number {
    let n = 0;
    for (const s of this.subs.values()) n += s.clients.size;
    return n;
  }

  get streamCount(): number {
    return this.subs.size;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Starts live delivery to `client` from the stream's current end. */
  async subscribe(client: SseClient): Promise<void> {
    let sub = this.subs.get(client.sessionId);
    if (!sub) {
      sub = { cursor: await this.log.lastId(client.sessionId), clients: new Set() };
      // Another subscriber may have created it while we awaited.
      sub = this.subs.get(client.sessionId) ?? sub;
      this.subs.set(client.sessionId, sub);
      await this.wake();
    }
    sub.clients.add(client);
    this.clients.add(client);
    this.gauge.set(this.clients.size);
    this.ensureRunning();
  }

  unsubscribe(client: SseClient): void {
    this.clients.delete(client);
    this.gauge.set(this.clients.size);
    const sub = this.subs.get(client.sessionId);
    if (!sub) return;
    sub.clients.delete(client);
    if (sub.clients.size === 0) {
      this.subs.delete(client.sessionId);
      void this.wake();
    }
  }

  private async wake(): Promise<void> {
    if (!this.running) return;
    await this.redis.xadd(this.wakeKey, 'MAXLEN', '1', '*', 'w', '1').catch(() => undefined);
    await this.redis.pexpire(this.wakeKey, 60_000).catch(() => undefined);
  }

  private ensureRunning(): void {
    if (this.running) return;
    this.running = true;
    this.reader ??= createRedisClient(this.config.redisUrl, 'codelab-sse-reader');
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.heartbeat();
    }, this.config.streaming.heartbeatMs);
    this.heartbeat.unref();
    void this.loop();
  }

  private async loop(): Promise<void> {
    const reader = this.reader as Redis;
    if (reader.status === 'wait') await reader.connect().catch(() => undefined);
    while (this.running) {
      if (this.subs.size === 0) {
        this.running = false;
        clearInterval(this.heartbeat);
        return;
      }
      const sessions = [...this.subs.keys()];
      const keys = sessions.map((s) => this.log.key(s));
      const cursors = sessions.map((s) => this.subs.get(s)?.cursor ?? '$');
      try {
        const reply = (await reader.xread(
          'COUNT',
          1000,
          'BLOCK',
          5000,
          'STREAMS',
          this.wakeKey,
          ...keys,
          '$',
          ...cursors,
        )) as [string, [string, string[]][]][] | null;
        for (const [key, raw] of reply ?? []) {
          if (key === this.wakeKey) continue;
          const sessionId = sessions[keys.indexOf(key)];
          const sub = this.subs.get(sessionId);
          if (!sub || raw.length === 0) continue;
          const entries = parseEntries(raw);
          sub.cursor = entries[entries.length - 1].id;
          for (const client of sub.clients) client.deliver(entries);
        }
      } catch (error) {
        if (!this.running) return;
        this.throttled.warn('read', `Stream read failed: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Shutdown: every open stream gets a final retry hint and is closed, so the server can drain. */
  onModuleDestroy(): void {
    for (const c of [...this.clients]) {
      c.close(this.config.streaming.retryMs);
      this.unsubscribe(c);
    }
  }

  onApplicationShutdown(): void {
    this.running = false;
    clearInterval(this.heartbeat);
    this.reader?.disconnect();
  }
}
