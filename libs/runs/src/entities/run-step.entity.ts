import { type Opt } from '@mikro-orm/core';
import { Entity, Enum, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

export enum StepKind {
  Llm = 'llm',
  Tool = 'tool',
  Approval = 'approval',
  Handoff = 'handoff',
  Task = 'task',
}

/** What a step does to the world: reads may be repeated, writes and commands never blindly. */
export enum StepEffect {
  None = 'none',
  Read = 'read',
  Write = 'write',
  Exec = 'exec',
}

export enum StepStatus {
  Started = 'started',
  Awaiting = 'awaiting',
  Succeeded = 'succeeded',
  Failed = 'failed',
  /** A write/exec that was started and never reported back: it may or may not have happened. */
  UnknownOutcome = 'unknown_outcome',
  Skipped = 'skipped',
}

export const FINISHED_STEP_STATUSES: readonly StepStatus[] = [
  StepStatus.Succeeded,
  StepStatus.Failed,
  StepStatus.UnknownOutcome,
  StepStatus.Skipped,
];

/**
 * The run's journal: one row per model turn and per tool call, written before the step runs and
 * after it ends. A resumed run continues from it: finished steps never run again.
 */
@Entity({ tableName: 'run_steps' })
export class RunStep {
  @PrimaryKey({ type: 'uuid' })
  runId!: string;

  @PrimaryKey({ type: 'integer' })
  seq!: number;

  @Enum({ items: () => StepKind, nativeEnumName: 'step_kind' })
  kind!: StepKind;

  /** Tool name, or the model for an llm step. */
  @Property({ type: 'string', length: 100 })
  name!: string;

  @Property({ type: 'string', length: 200, nullable: true })
  toolCallId: string | null = null;

  @Property({ type: 'json', nullable: true })
  args: Record<string, unknown> | null = null;

  /** SHA-256 of the RFC 8785 canonical JSON of args. */
  @Property({ type: 'string', length: 64, nullable: true })
  argsDigest: string | null = null;

  @Enum({ items: () => StepEffect, nativeEnumName: 'step_effect' })
  effect: Opt<StepEffect> = StepEffect.None;

  @Enum({ items: () => StepStatus, nativeEnumName: 'step_status' })
  status: Opt<StepStatus> = StepStatus.Started;

  /** Bounded: what the step returned (tool output, model turn summary). */
  @Property({ type: 'json', nullable: true })
  result: Record<string, unknown> | null = null;

  @Property({ type: 'json', nullable: true })
  error: { code: string; message: string } | null = null;

  @Property({ type: 'json', nullable: true })
  usage: { input_tokens: number; output_tokens: number } | null = null;

  /** The message this step produced (the assistant turn, the tool result). */
  @Property({ type: 'uuid', nullable: true })
  messageId: string | null = null;

  /** The epoch of the execution that last wrote it. */
  @Property({ type: 'integer' })
  leaseEpoch!: number;

  /** Executions that started it (a read step re-run after a crash counts twice). */
  @Property({ type: 'integer', default: 1 })
  attempts: Opt<number> = 1;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  startedAt!: Opt<Date>;

  @Property({ type: 'datetime', nullable: true })
  finishedAt: Date | null = null;
}
