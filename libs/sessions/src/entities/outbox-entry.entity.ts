import { randomUUID } from 'node:crypto';
import { type Opt } from '@mikro-orm/core';
import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/**
 * Written in the same transaction as the run: "this run must reach the queue". Deleted once the
 * job is enqueued; the relay re-enqueues whatever is left (Redis was down, the process died).
 */
@Entity({ tableName: 'run_outbox' })
export class OutboxEntry {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'uuid', unique: true })
  runId!: string;

  @Property({ type: 'integer', default: 0 })
  attempts: Opt<number> = 0;

  @Property({ type: 'datetime', defaultRaw: 'now()', index: true })
  createdAt: Opt<Date> = new Date();
}
