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

export interface ToolCallRecord {
  id: string;
  name: string;
  args: Record<string, unknown>;
  /** The model sent arguments that are not a JSON object: why (the call becomes a tool error). */
  invalid?: string;
}

/** Append-only: messages are inserted once and never updated or re-inserted. */
@Entity({ tableName: 'messages' })
@Unique({ properties: ['session', 'seq'] })
// One message per step of a run: a re-delivered run cannot append a step's message twice.
@Index({
  name: 'messages_run_step_unique',
  expression: `create unique index "messages_run_step_unique" on "messages" ("run_id", "step_seq") where "step_seq" is not null`,
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

  /** The run's journal step that produced it (assistant turns, tool results). */
  @Property({ type: 'integer', nullable: true })
  stepSeq: number | null = null;

  /** An assistant turn that calls tools: [{id, name, args}]. */
  @Property({ type: 'json', nullable: true })
  toolCalls: ToolCallRecord[] | null = null;

  /** A tool result: the call it answers. */
  @Property({ type: 'string', length: 200, nullable: true })
  toolCallId: string | null = null;

  @Property({ type: 'json' })
  metadata: Opt<Record<string, unknown>> = {};

  /** A delegated task's turn: listed with the session's messages, never part of its prompt history. */
  @Property({ type: 'boolean', default: false })
  internal: Opt<boolean> = false;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;
}
