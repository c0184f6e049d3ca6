import { randomUUID } from 'node:crypto';
import { type Opt, type Ref } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { ChatSession } from './chat-session.entity';

export enum RunStatus {
  Queued = 'queued',
  Running = 'running',
  AwaitingApproval = 'awaiting_approval',
  Completed = 'completed',
  Failed = 'failed',
  Cancelled = 'cancelled',
  Expired = 'expired',
}

export const FINAL_RUN_STATUSES: readonly RunStatus[] = [
  RunStatus.Completed,
  RunStatus.Failed,
  RunStatus.Cancelled,
  RunStatus.Expired,
];
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = [
  RunStatus.Queued,
  RunStatus.Running,
  RunStatus.AwaitingApproval,
];

export enum RunMode {
  Direct = 'direct',
  Orchestrated = 'orchestrated',
  Task = 'task',
}

export interface RunError {
  code: string;
  message: string;
}

export interface RunUsage {
  input_tokens: number;
  output_tokens: number;
}

/** Something that went wrong without failing the run (a dependency it could do without). */
export interface RunWarning {
  code: string;
  message: string;
}

/** Progress a re-delivered job resumes from. */
export interface RunCheckpoint {
  reply_message_id?: string;
  memory_stored?: boolean;
  model_attempts?: number;
  warnings?: RunWarning[];
}

@Entity({ tableName: 'runs' })
@Index({
  name: 'runs_session_created_idx',
  expression:
    'create index "runs_session_created_idx" on "runs" ("session_id", "created_at" desc, "id" desc)',
})
@Index({
  name: 'runs_active_idx',
  expression: `create index "runs_active_idx" on "runs" ("status", "heartbeat_at") where "status" in ('queued', 'running')`,
})
export class Run {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => ChatSession, ref: true, deleteRule: 'cascade' })
  session!: Ref<ChatSession>;

  @Property({ type: 'uuid' })
  projectId!: string;

  @Property({ type: 'uuid', index: true })
  ownerId!: string;

  @Property({ type: 'uuid', index: true })
  agentId!: string;

  @Property({ type: 'string', length: 100 })
  agentName!: string;

  @Property({ type: 'uuid', nullable: true })
  parentRunId: string | null = null;

  @Enum({ items: () => RunMode, nativeEnumName: 'run_mode' })
  mode: Opt<RunMode> = RunMode.Direct;

  @Enum({ items: () => RunStatus, nativeEnumName: 'run_status' })
  status: Opt<RunStatus> = RunStatus.Queued;

  @Property({ type: 'uuid' })
  inputMessageId!: string;

  @Property({ type: 'uuid', nullable: true })
  outputMessageId: string | null = null;

  @Property({ type: 'json' })
  steps: Opt<RunCheckpoint> = {};

  @Property({ type: 'json', nullable: true })
  usage: RunUsage | null = null;

  @Property({ type: 'json', nullable: true })
  error: RunError | null = null;

  /** How many times a worker started executing it (re-deliveries after a crash included). */
  @Property({ type: 'integer', default: 0 })
  executions: Opt<number> = 0;

  /**
   * Fencing token: bumped by every claim. An execution writes only while the epoch is still the
   * one it claimed, so a worker that was paused and superseded cannot write a second reply.
   */
  @Property({ type: 'integer', default: 0 })
  leaseEpoch: Opt<number> = 0;

  @Property({ type: 'datetime', nullable: true })
  heartbeatAt: Date | null = null;

  /** host:pid of the worker process executing it (operations and crash forensics). */
  @Property({ type: 'string', length: 200, nullable: true })
  workerId: string | null = null;

  @Property({ type: 'datetime', nullable: true })
  cancelRequestedAt: Date | null = null;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt: Opt<Date> = new Date();

  @Property({ type: 'datetime', nullable: true })
  startedAt: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  finishedAt: Date | null = null;
}
