import { randomUUID } from 'node:crypto';
import { type Opt } from '@mikro-orm/core';
import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/**
 * The durable domain-event outbox: a row written in the same transaction as the state change it
 * reports, published (in `seq` order) by the elected relay, handled in any worker process.
 */
@Entity({ tableName: 'domain_events' })
@Index({
  name: 'domain_events_unpublished_idx',
  expression:
    'create index "domain_events_unpublished_idx" on "domain_events" ("seq") where "published_at" is null',
})
export class DomainEventRecord {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  /** Commit-independent order of recording (a sequence), the relay publishes by it. */
  @Property({ type: 'bigint', autoincrement: true, unique: true })
  seq!: Opt<string>;

  @Property({ type: 'string', length: 100 })
  type!: string;

  @Property({ type: 'string', length: 50 })
  aggregateType!: string;

  @Property({ type: 'string', length: 100 })
  aggregateId!: string;

  @Property({ type: 'uuid', nullable: true })
  ownerId: string | null = null;

  @Property({ type: 'json' })
  payload: Opt<Record<string, unknown>> = {};

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;

  @Property({ type: 'datetime', nullable: true })
  publishedAt: Date | null = null;
}

/** "Handler X has applied event Y": makes every handler idempotent by event id. */
@Entity({ tableName: 'domain_event_handlings' })
export class DomainEventHandling {
  @PrimaryKey({ type: 'string', length: 100 })
  handler!: string;

  @PrimaryKey({ type: 'uuid' })
  eventId!: string;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  handledAt!: Opt<Date>;
}
