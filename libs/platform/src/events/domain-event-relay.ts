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
import { bullmqConnection, bullmqPrefix } from '../redis/bullmq-connection';
import { crashPoint } from '../testing/crash-points';
import {
  DOMAIN_EVENTS_CHANNEL,
  DOMAIN_EVENTS_QUEUE,
  type DomainEventRow,
  domainEventOf,
} from './domain-event';
import { DomainEvents } from './domain-events';

const BATCH = 500;
const UPKEEP_EVERY_MS = 30_000;

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
  private upkeep?: NodeJS.Timeout;
  private running = false;
  private again = false;

  constructor(
    private readonly em: EntityManager,
    private readonly leadership: RelayLeadership,
    private readonly events: DomainEvents,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.queue = new Queue(DOMAIN_EVENTS_QUEUE, {
      connection: bullmqConnection(config, 'producer'),
      prefix: bullmqPrefix(config),
      defaultJobOptions: {
        // Handler failures (not outages: those wait without using attempts) back off up to a
        // minute apart; after 50 the event is a dead letter in the failed set.
        attempts: 50,
        backoff: { type: 'capped' },
        removeOnComplete: { age: 3_600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3_600 },
      },
    });
    this.queue.on('error', (error) =>
      this.throttled.warn('queue', `Domain event queue (producer): ${error.message}`),
    );
  }

  onApplicationBootstrap(): void {
    // The leader reacts to every commit at once; the others only check their turn on the sweep.
    this.leadership.listen(DOMAIN_EVENTS_CHANNEL, () => {
      if (this.leadership.isLeader) void this.publish();
    });
    this.timer = setInterval(() => void this.publish(), this.config.relayIntervalMs);
    this.timer.unref();
    this.upkeep = setInterval(() => void this.maintain(), UPKEEP_EVERY_MS);
    this.upkeep.unref();
  }

  /**
   * The leader's upkeep: events whose job Redis lost (published, not handled by every handler,
   * no job any more) are published again; events past DOMAIN_EVENTS_RETENTION_DAYS are deleted
   * with their handling records.
   */
  async maintain(): Promise<void> {
    try {
      if (!(await this.leadership.ensure())) return;
      await this.republishLost();
      await this.prune();
    } catch (error) {
      this.throttled.warn('upkeep', `Domain event upkeep failed: ${(error as Error).message}`);
    }
  }

  private async republishLost(): Promise<number> {
    const conn = this.em.fork().getConnection();
    // Within the job retention (an hour): older completed jobs are gone by design.
    const candidates = await conn.execute<(DomainEventRow & { handled: number })[]>(
      `select e.*, (select count(*)::int from domain_event_handlings h where h.event_id = e.id) as handled
       from domain_events e
       where e.published_at between now() - interval '50 minutes' and now() - interval '60 seconds'
       order by e.seq limit 500`,
    );
    let republished = 0;
    for (const row of candidates) {
      const event = domainEventOf(row);
      const expected = this.events
        .handlersFor(event.type)
        .filter((h) => !h.accepts || h.accepts(event)).length;
      if (row.handled >= expected) continue;
      const job = await this.queue.getJob(event.id);
      if (job) continue; // waiting, retrying, or a dead letter: BullMQ still has it
      this.logger.warn(
        `Publishing domain event ${event.id} (${event.type}) again: its job was lost`,
      );
      await this.queue.add(event.type, { eventId: event.id }, { jobId: event.id });
      republished++;
    }
    return republished;
  }

  private async prune(): Promise<void> {
    const conn = this.em.fork().getConnection();
    const days = this.config.domainEventsRetentionDays;
    await conn.execute(
      `delete from domain_event_handlings where event_id in
         (select id from domain_events where published_at < now() - make_interval(days => ?) limit 5000)`,
      [days],
    );
    await conn.execute(
      `delete from domain_events where id in
         (select id from domain_events where published_at < now() - make_interval(days => ?) limit 5000)`,
      [days],
    );
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.upkeep);
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
