import { randomUUID } from 'node:crypto';
import { type Opt, type Ref } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { Project } from '@codelab/projects';

export type SessionMode = 'direct' | 'orchestrated';

@Entity({ tableName: 'chat_sessions' })
@Index({
  name: 'chat_sessions_project_created_idx',
  expression:
    'create index "chat_sessions_project_created_idx" on "chat_sessions" ("project_id", "created_at" desc, "id" desc)',
})
export class ChatSession {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Project, ref: true, deleteRule: 'cascade' })
  project!: Ref<Project>;

  /** Denormalised from the project so every lookup filters by owner in the same query. */
  @Property({ type: 'uuid', index: true })
  ownerId!: string;

  @Property({ type: 'string', length: 200 })
  title!: string;

  /** Plain id, not a foreign key: deleting an agent must leave its sessions readable. */
  @Property({ type: 'uuid', nullable: true })
  currentAgentId: string | null = null;

  /**
   * Who answers a message without `target_agent`: the current agent (`direct`), or the project's
   * orchestrator, which routes it to an agent or plans a DAG of agent tasks (`orchestrated`).
   */
  @Property({ type: 'string', length: 12, default: 'direct' })
  mode: Opt<SessionMode> = 'direct';

  /** Last allocated message seq; bumped in the inserting transaction, so seqs have no gaps. */
  @Property({ type: 'integer', default: 0 })
  lastSeq: Opt<number> = 0;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;

  @Property({ type: 'datetime', defaultRaw: 'now()', onUpdate: () => new Date() })
  updatedAt: Opt<Date> = new Date();

  @Property({ type: 'datetime', nullable: true })
  archivedAt: Date | null = null;
}
