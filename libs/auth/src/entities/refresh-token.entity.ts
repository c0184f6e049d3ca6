import { randomUUID } from 'node:crypto';
import { type Opt, type Ref } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { User } from '@codelab/users';

/**
 * An opaque refresh token, stored only as its SHA-256 hash. Tokens issued from one login form a
 * family; rotation revokes the old token and links it to its successor, so presenting a rotated
 * token again is detectable as reuse and revokes the whole family.
 */
@Entity({ tableName: 'refresh_tokens' })
@Index({ properties: ['familyId'] })
export class RefreshToken {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => User, ref: true, deleteRule: 'cascade', index: true })
  user!: Ref<User>;

  @Property({ type: 'uuid' })
  familyId!: string;

  @Property({ type: 'string', length: 64, unique: true })
  tokenHash!: string;

  @Property({ type: 'datetime' })
  expiresAt!: Date;

  @Property({ type: 'datetime', nullable: true })
  revokedAt: Date | null = null;

  @Property({ type: 'string', length: 32, nullable: true })
  revokedReason: string | null = null;

  @Property({ type: 'uuid', nullable: true })
  replacedById: string | null = null;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt: Opt<Date> = new Date();
}
