import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { DelayedError, type Job, Worker } from 'bullmq';
import { isDatabaseUnavailable } from '../database/database-unavailable';
import { isRedisUnavailable } from '../redis/redis-unavailable';
import type { Counter } from 'prom-client';
import { type AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { ThrottledLog } from '../observability/throttled-log';
import { bullmqConnection, bullmqPrefix } from '../redis/bullmq-connection';
import { crashPoint } from '../testing/crash-points';
import { DOMAIN_EVENTS_QUEUE, type DomainEventRow, domainEventOf } from './domain-event';
import { DomainEvents } from './domain-events';
import { DOMAIN_EVENTS_HANDLED } from './domain-events.metrics';

/**
 * Runs the handlers of each published domain event, in whichever worker takes the job. Each
 * handler runs in its own transaction that first records (handler, event id): a redelivered event
 * (retry, relay re-publish, crash after commit) finds the record and is skipped, so its effects in
 * PostgreSQL happen once. A failing handler is retried with backoff; the job's failed set keeps
 * the ones that never succeeded.
 */
@Injectable()
export class DomainEventProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DomainEventProcessor.name);
  private readonly throttled = new ThrottledLog(this.logger);
  private worker?: Worker<{ eventId: string }>;

  constructor(
    private readonly em: EntityManager,
    private readonly events: DomainEvents,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(DOMAIN_EVENTS_HANDLED) private readonly handled: Counter<string>,
  ) {}

  onApplicationBootstrap(): void {
    const worker = new Worker<{ eventId: string }>(
      DOMAIN_EVENTS_QUEUE,
      (job, token) => this.processOrWait(job, token),
      {
        connection: bullmqConnection(this.config, 'consumer'),
        prefix: bullmqPrefix(this.config),
        concurrency: 8,
        // Like run jobs: a dead worker's event is re-delivered once its lock lapses.
        lockDuration: this.config.runJobLockMs,
        stalledInterval: Math.max(500, Math.floor(this.config.runJobLockMs / 2)),
        maxStalledCount: this.config.runMaxStalls,
        settings: { backoffStrategy: (attemptsMade) => Math.min(60_000, 500 * 2 ** attemptsMade) },
        autorun: false,
      },
    );
    worker.on('error', (error) =>
      this.throttled.warn(`worker:${error.message.slice(0, 60)}`, `Event worker: ${error.message}`),
    );
    worker.on('failed', (job, error) =>
      this.throttled.warn(
        `failed:${job?.name ?? ''}`,
        `Domain event ${job?.data.eventId} (${job?.name}) failed (attempt ${job?.attemptsMade}): ${error.message}`,
      ),
    );
    this.worker = worker;
    void worker
      .run()
      .catch((error: Error) => this.logger.error(`Event worker stopped: ${error.message}`));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.worker?.close();
  }

  /**
   * An outage of PostgreSQL or Redis is nobody's fault: the event waits (up to 5 s apart) without
   * using up an attempt, as run jobs do.
   */
  private async processOrWait(job: Job<{ eventId: string; outages?: number }>, token?: string) {
    try {
      await this.process(job);
    } catch (error) {
      if (!isDatabaseUnavailable(error) && !isRedisUnavailable(error)) throw error;
      const outages = (job.data.outages ?? 0) + 1;
      this.throttled.warn(
        'outage',
        `Domain event ${job.data.eventId} waits: ${(error as Error).message}`,
      );
      try {
        await job.updateData({ ...job.data, outages });
        await job.moveToDelayed(
          Date.now() + Math.min(5_000, 250 * 2 ** Math.min(outages, 5)),
          token,
        );
      } catch {
        // The job's lock moved on, or Redis itself is down: it is re-delivered either way.
      }
      throw new DelayedError();
    }
  }

  async process(job: Job<{ eventId: string }>): Promise<void> {
    const em = this.em.fork();
    const [row] = await em
      .getConnection()
      .execute<DomainEventRow[]>(`select * from domain_events where id = ?`, [job.data.eventId]);
    if (!row) return;
    const event = domainEventOf(row);
    for (const handler of this.events.handlersFor(event.type)) {
      if (handler.accepts && !handler.accepts(event)) continue;
      const applied = await em.transactional(async (tx) => {
        const [claimed] = await tx.getConnection().execute<{ handler: string }[]>(
          `insert into domain_event_handlings (handler, event_id) values (?, ?)
             on conflict do nothing returning handler`,
          [handler.name, event.id],
          'all',
          tx.getTransactionContext(),
        );
        if (!claimed) return null;
        return { after: await handler.handle(event, tx) };
      });
      crashPoint(`events:handled:${event.type}`);
      this.handled.inc({ handler: handler.name, outcome: applied ? 'applied' : 'duplicate' });
      await applied?.after?.();
    }
  }
}
