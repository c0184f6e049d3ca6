import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { Queue } from 'bullmq';
import { type AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { RelayLeadership } from '../database/relay-leadership';
import { ThrottledLog } from '../observability/throttled-log';
import { bullmqConnection } from '../redis/bullmq-connection';
import { crashPoint } from '../testing/crash-points';
import { DOMAIN_EVENTS_CHANNEL, DOMAIN_EVENTS_QUEUE } from './domain-event';

const BATCH = 500;

/**
 * Publishes recorded domain events to the `domain-events` queue, in `seq` order, from the elected
 * relay only. Woken by the NOTIFY that comes with each commit (so handlers start within
 * milliseconds), with a periodic sweep as the safety net. The job id is the event id: publishing
 * again after a crash between enqueue and marking is a no-op.
 */
@Injectable()
export class DomainEventRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DomainEventRelay.name);
  private readonly throttled = new ThrottledLog(this.logger);
  private readonly queue: Queue<{ eventId: string }>;
  private timer?: NodeJS.Timeout;
  private running = false;
  private again = false;

  constructor(
    private readonly em: EntityManager,
    private readonly leadership: RelayLeadership,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.queue = new Queue(DOMAIN_EVENTS_QUEUE, {
      connection: bullmqConnection(config, 'producer'),
      prefix: `${config.redisKeyPrefix}bull`,
      defaultJobOptions: {
        attempts: 50,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: { age: 3_600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3_600 },
      },
    });
    this.queue.on('error', (error) =>
      this.throttled.warn('queue', `Domain event queue (producer): ${error.message}`),
    );
  }

  onApplicationBootstrap(): void {
    this.leadership.listen(DOMAIN_EVENTS_CHANNEL, () => void this.publish());
    this.timer = setInterval(() => void this.publish(), this.config.relayIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.queue.close().catch(() => undefined);
  }

  /** Publishes everything unpublished (when this process leads); coalesces concurrent wake-ups. */
  async publish(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        if (!(await this.leadership.ensure())) return;
        while ((await this.publishBatch()) === BATCH);
      } while (this.again);
    } catch (error) {
      this.throttled.warn(
        'publish',
        `Publishing domain events failed: ${(error as Error).message}`,
      );
    } finally {
      this.running = false;
    }
  }

  private async publishBatch(): Promise<number> {
    const conn = this.em.fork().getConnection();
    const events = await conn.execute<{ id: string; type: string }[]>(
      `select id, type from domain_events where published_at is null order by seq limit ${BATCH}`,
    );
    if (events.length === 0) return 0;
    await this.queue.addBulk(
      events.map((e) => ({ name: e.type, data: { eventId: e.id }, opts: { jobId: e.id } })),
    );
    for (const e of events) crashPoint(`events:published:${e.type}`);
    await conn.execute(`update domain_events set published_at = now() where id = any(?::uuid[])`, [
      `{${events.map((e) => e.id).join(',')}}`,
    ]);
    return events.length;
  }
}
