import { randomUUID } from 'node:crypto';
import { type Opt } from '@mikro-orm/core';
import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

export enum SwitchReason {
  /** The agent called switch_agent. */
  Tool = 'tool',
  /** The user chose the agent (POST .../active-agent). */
  User = 'user',
  /** The orchestrator routed a message of an orchestrated session to the agent. */
  Routed = 'routed',
}

/** One change of a conversation's current agent: the session's hand-over history. */
@Entity({ tableName: 'agent_switches' })
@Index({
  name: 'agent_switches_session_created_idx',
  expression:
    'create index "agent_switches_session_created_idx" on "agent_switches" ("session_id", "created_at" desc, "id" desc)',
})
export class AgentSwitch {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'uuid' })
  sessionId!: string;

  @Property({ type: 'uuid' })
  projectId!: string;

  @Property({ type: 'uuid', index: true })
  ownerId!: string;

  @Property({ type: 'uuid', nullable: true })
  fromAgentId: string | null = null;

  @Property({ type: 'string', length: 100, nullable: true })
  fromAgentName: string | null = null;

  @Property({ type: 'uuid' })
  toAgentId!: string;

  @Property({ type: 'string', length: 100 })
  toAgentName!: string;

  @Property({ type: 'string', length: 10 })
  reason!: SwitchReason;

  /** Why, in the switching agent's (or user's) words. */
  @Property({ type: 'text', nullable: true })
  explanation: string | null = null;

  /** What the receiving agent is told. */
  @Property({ type: 'text', nullable: true })
  note: string | null = null;

  /** The run that switched (tool switches). */
  @Property({ type: 'uuid', nullable: true })
  runId: string | null = null;

  /** The user message the new agent answers (tool switches). */
  @Property({ type: 'uuid', nullable: true })
  inputMessageId: string | null = null;

  @Property({ type: 'uuid', nullable: true })
  continuationRunId: string | null = null;

  /** The request it applies (its domain event, or the user's request): applied once. */
  @Property({ type: 'uuid', unique: true })
  eventId!: string;

  @Property({ type: 'datetime', defaultRaw: `date_trunc('milliseconds'::text, now())` })
  createdAt!: Opt<Date>;
}
