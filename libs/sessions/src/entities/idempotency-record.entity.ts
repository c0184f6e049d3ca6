import { type Opt } from '@mikro-orm/core';
import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/** The stored answer to a request sent with an Idempotency-Key, per user. */
@Entity({ tableName: 'idempotency_records' })
export class IdempotencyRecord {
  @PrimaryKey({ type: 'uuid' })
  ownerId!: string;

  @PrimaryKey({ type: 'string', length: 255 })
  key!: string;

  /** Hash of the route and body: the same key with another body is refused. */
  @Property({ type: 'string', length: 64 })
  requestHash!: string;

  /** The serialized response, as text so a replay is byte-identical to the first answer. */
  @Property({ type: 'text', nullable: true })
  response: string | null = null;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;

  /** Past it the key is free again (IDEMPOTENCY_TTL_HOURS); a cleanup job deletes such rows. */
  @Property({ type: 'datetime', index: true })
  expiresAt!: Date;
}
