import { randomUUID } from 'node:crypto';
import { type Opt } from '@mikro-orm/core';
import { Entity, Enum, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

export enum RunStatus {
  Queued = 'queued',
  Running = 'running',
  AwaitingApproval = 'awaiting_approval',
  AwaitingChildren = 'awaiting_children',
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
/** Parked: keeps its place in its lane, holds no worker, no slot, no timer. */
export const PARKED_RUN_STATUSES: readonly RunStatus[] = [
  RunStatus.AwaitingApproval,
  RunStatus.AwaitingChildren,
];
/** Not final: the run still occupies its lane. */
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = [
  RunStatus.Queued,
  RunStatus.Running,
  ...PARKED_RUN_STATUSES,
];

/** ACTIVE_RUN_STATUSES as an SQL list, for `status in ${...}`. */
export const ACTIVE_RUN_STATUSES_SQL = `(${ACTIVE_RUN_STATUSES.map((s) => `'${s}'`).join(', ')})`;

/** Which RunHandler executes it. */
export enum RunKind {
  Agent = 'agent',
  Task = 'task',
  Orchestration = 'orchestration',
}

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

/** Handler-owned progress that is not a step (flags, warnings). */
export interface RunState {
  memory_stored?: boolean;
  warnings?: RunWarning[];
  [key: string]: unknown;
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
// A lane's head: few active runs per lane, found by (lane, status) and sorted by lane_seq.
@Index({ name: 'runs_lane_status_idx', properties: ['lane', 'status', 'laneSeq'] })
export class Run {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  // A plain id: sessions builds on runs, not the reverse. A deleted project's runs are removed by
  // the project.deleted handler (sessions are archived, never deleted on their own).
  @Property({ type: 'uuid' })
  sessionId!: string;

  @Property({ type: 'uuid' })
  projectId!: string;

  @Property({ type: 'uuid', index: true })
  ownerId!: string;

  @Property({ type: 'uuid', index: true })
  agentId!: string;

  @Property({ type: 'string', length: 100 })
  agentName!: string;

  @Property({ type: 'uuid', nullable: true, index: true })
  parentRunId: string | null = null;

  @Enum({ items: () => RunKind, nativeEnumName: 'run_kind', default: RunKind.Agent })
  kind: Opt<RunKind> = RunKind.Agent;

  @Enum({ items: () => RunMode, nativeEnumName: 'run_mode' })
  mode: Opt<RunMode> = RunMode.Direct;

  /**
   * The queue it waits in: `session:<id>` for a conversation (FIFO by the input message's seq),
   * `run:<id>` for a run of its own (a child task). Only a lane's head runs.
   */
  @Property({ type: 'string', length: 100 })
  lane!: string;

  @Property({ type: 'bigint' })
  laneSeq!: string;

  /**
   * Reserved in its lane but not dispatched until released: a switch's continuation, held until
   * the switch is applied. A held head blocks its lane (nothing behind it overtakes).
   */
  @Property({ type: 'boolean', default: false })
  held: Opt<boolean> = false;

  @Enum({ items: () => RunStatus, nativeEnumName: 'run_status' })
  status: Opt<RunStatus> = RunStatus.Queued;

  @Property({ type: 'uuid', nullable: true })
  inputMessageId: string | null = null;

  @Property({ type: 'uuid', nullable: true })
  outputMessageId: string | null = null;

  /** What a child run is asked to do (no user message of its own). */
  @Property({ type: 'json', nullable: true })
  input: Opt<Record<string, unknown>> | null = null;

  @Property({ type: 'json' })
  state: Opt<RunState> = {};

  @Property({ type: 'json', nullable: true })
  usage: RunUsage | null = null;

  @Property({ type: 'json', nullable: true })
  error: RunError | null = null;

  /** How many times a worker started executing it (re-deliveries after a crash included). */
  @Property({ type: 'integer', default: 0 })
  executions: Opt<number> = 0;

  /**
   * Fencing token: bumped by every claim. An execution writes only while the epoch is still the
   * one it claimed, so a worker that was paused and superseded cannot write anything.
   */
  @Property({ type: 'integer', default: 0 })
  leaseEpoch: Opt<number> = 0;

  /** Times it was handed to the queue; each hand-off is its own job (`<run id>.<n>`). */
  @Property({ type: 'integer', default: 0 })
  dispatches: Opt<number> = 0;

  @Property({ type: 'datetime', nullable: true })
  heartbeatAt: Date | null = null;

  /** host:pid:random of the worker process executing it (operations and crash forensics). */
  @Property({ type: 'string', length: 200, nullable: true })
  workerId: string | null = null;

  @Property({ type: 'datetime', nullable: true })
  cancelRequestedAt: Date | null = null;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;

  @Property({ type: 'datetime', nullable: true })
  startedAt: Date | null = null;

  /** Past it (max_run_seconds after the first start) the run fails with RUN_TIMEOUT. */
  @Property({ type: 'datetime', nullable: true })
  deadlineAt: Date | null = null;

  /** When it parked; a run parked past RUN_PARKED_TTL_SECONDS expires (its lane moves on). */
  @Property({ type: 'datetime', nullable: true })
  parkedAt: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  finishedAt: Date | null = null;
}
