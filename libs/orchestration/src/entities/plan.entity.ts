import { randomUUID } from 'node:crypto';
import { type Opt } from '@mikro-orm/core';
import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

export type PlanStatus = 'running' | 'completed' | 'failed' | 'cancelled';
export type TaskStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'cancelled';
export type FailurePolicy = 'fail_plan' | 'skip' | 'retry';

export const FINAL_TASK_STATUSES: readonly TaskStatus[] = [
  'completed',
  'failed',
  'skipped',
  'cancelled',
];

/** An orchestration run's plan: the DAG the scheduler runs as child task runs. */
@Entity({ tableName: 'plans' })
export class Plan {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  /** The orchestration run it belongs to (one plan per run). */
  @Property({ type: 'uuid', unique: true })
  runId!: string;

  @Property({ type: 'uuid' })
  sessionId!: string;

  @Property({ type: 'uuid' })
  projectId!: string;

  @Property({ type: 'uuid', index: true })
  ownerId!: string;

  @Property({ type: 'string', length: 12, default: 'running' })
  status: Opt<PlanStatus> = 'running';

  @Property({ type: 'integer', default: 0 })
  replans: Opt<number> = 0;

  /** Times the planner was asked to recover from failed tasks (at most 2). */
  @Property({ type: 'integer', default: 0 })
  recoveries: Opt<number> = 0;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;

  @Property({ type: 'datetime', nullable: true })
  finishedAt: Date | null = null;
}

/** One task of a plan: an agent, an instruction, its dependencies, and how it went. */
@Entity({ tableName: 'plan_tasks' })
@Index({ properties: ['childRunId'] })
export class PlanTask {
  @PrimaryKey({ type: 'uuid' })
  planId!: string;

  @PrimaryKey({ type: 'string', length: 64 })
  taskId!: string;

  /** Its place in the plan as the planner wrote it. */
  @Property({ type: 'integer' })
  position!: number;

  @Property({ type: 'uuid' })
  agentId!: string;

  @Property({ type: 'string', length: 100 })
  agentName!: string;

  @Property({ type: 'text' })
  instruction!: string;

  @Property({ type: 'json' })
  dependsOn!: string[];

  /** Workspace globs it may write: tasks whose globs overlap never run at the same time. */
  @Property({ type: 'json' })
  writes!: string[];

  @Property({ type: 'string', length: 10 })
  onFailure!: FailurePolicy;

  @Property({ type: 'string', length: 12, default: 'pending' })
  status: Opt<TaskStatus> = 'pending';

  @Property({ type: 'integer', default: 0 })
  attempts: Opt<number> = 0;

  @Property({ type: 'uuid', nullable: true })
  childRunId: string | null = null;

  @Property({ type: 'json', nullable: true })
  result: unknown = null;

  @Property({ type: 'json', nullable: true })
  error: { code: string; message: string } | null = null;

  /** When its last dependency finished (start latency is measured from it). */
  @Property({ type: 'datetime', nullable: true })
  readyAt: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  startedAt: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  finishedAt: Date | null = null;
}
