import { randomUUID } from 'node:crypto';
import { type Opt, type Ref } from '@mikro-orm/core';
import {
  Entity,
  Enum,
  Index,
  ManyToOne,
  PrimaryKey,
  Property,
  Unique,
} from '@mikro-orm/decorators/legacy';
import { ChatSession } from './chat-session.entity';

export enum MessageRole {
  User = 'user',
  Assistant = 'assistant',
  Tool = 'tool',
  System = 'system',
}

/** Append-only: messages are inserted once and never updated or re-inserted. */
@Entity({ tableName: 'messages' })
@Unique({ properties: ['session', 'seq'] })
// A run has at most one reply: re-delivered jobs cannot write a second one.
@Index({
  name: 'messages_one_reply_per_run',
  expression: `create unique index "messages_one_reply_per_run" on "messages" ("run_id") where "role" = 'assistant'`,
})
export class Message {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => ChatSession, ref: true, deleteRule: 'cascade' })
  session!: Ref<ChatSession>;

  /** Per-session, gap-free, monotonic. */
  @Property({ type: 'integer' })
  seq!: number;

  @Enum({ items: () => MessageRole, nativeEnumName: 'message_role' })
  role!: MessageRole;

  @Property({ type: 'text' })
  content!: string;

  /** The agent that wrote (or was addressed by) the message; kept by name after it is deleted. */
  @Property({ type: 'uuid', nullable: true })
  agentId: string | null = null;

  @Property({ type: 'string', length: 100, nullable: true })
  agentName: string | null = null;

  @Property({ type: 'uuid', nullable: true })
  runId: string | null = null;

  @Property({ type: 'json' })
  metadata: Opt<Record<string, unknown>> = {};

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt: Opt<Date> = new Date();
}
