import { ArrayType, type Opt } from '@mikro-orm/core';
import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/** One remembered item of one agent, for the PostgreSQL memory store. */
@Entity({ tableName: 'agent_memories' })
@Index({
  name: 'agent_memories_scope_idx',
  expression:
    'create index "agent_memories_scope_idx" on "agent_memories" ("owner_id", "agent_id", "created_at" desc, "id" desc)',
})
@Index({ properties: ['ownerId', 'projectId'] })
export class AgentMemory {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  ownerId!: string;

  @Property({ type: 'uuid' })
  projectId!: string;

  @Property({ type: 'uuid' })
  agentId!: string;

  @Property({ type: 'text' })
  content!: string;

  @Property({ type: 'json' })
  metadata: Opt<Record<string, unknown>> = {};

  @Property({ type: 'string', length: 100 })
  embeddingModel!: string;

  /** L2-normalised, so the dot product is the cosine similarity. */
  @Property({ columnType: 'real[]', type: new ArrayType<number>((i) => Number(i)) })
  embedding!: number[];

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt: Opt<Date> = new Date();
}
