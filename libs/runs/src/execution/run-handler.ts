import { Injectable } from '@nestjs/common';
import type { SessionEventType } from '@codelab/streaming';
import type { Run, RunError, RunKind, RunUsage, RunWarning } from '../entities/run.entity';
import type { StepJournal } from './step-journal';

import type { RunLease } from './run-lease';

export type { RunLease };

/** What a handler needs to run, decided before any slot is taken. */
export type Preparation =
  | { kind: 'ready'; agentId: string; agentLimit: number; maxRunSeconds: number }
  | { kind: 'fail'; error: RunError };

export interface RunContext {
  /** The run as this execution claimed it. */
  readonly run: Run;
  readonly lease: RunLease;
  /** Aborted on cancellation or when the lease is lost (see `signal.reason`). */
  readonly signal: AbortSignal;
  /**
   * Aborted when the worker shuts down: stop at the next step boundary (a model call may be
   * abandoned; a tool call should finish) and throw RunYieldSignal, and the run is handed back.
   */
  readonly draining: AbortSignal;
  readonly journal: StepJournal;
  /** Past it the run fails with RUN_TIMEOUT (max_run_seconds after its first start). */
  readonly deadline: Date | null;
  /** Live stream event of the run's session (tokens, tool calls). */
  publish(type: SessionEventType, payload: Record<string, unknown>): void;
}

export type RunOutcome =
  | { kind: 'completed'; outputMessageId?: string; usage?: RunUsage | null }
  | {
      kind: 'failed';
      error: RunError;
      deadLetter?: boolean;
      usage?: RunUsage | null;
      /** What it still answered (e.g. an orchestration's summary of a failed plan). */
      outputMessageId?: string;
    }
  /** Parks the run: its place in the lane is kept, nothing is held until it is resumed. */
  | { kind: 'parked'; status: 'awaiting_approval' | 'awaiting_children'; reason: string };

/**
 * Executes one kind of run. The engine claims the run, holds its agent slot and lease, heartbeats
 * and applies the outcome; the handler does the work, journalling each step so a re-delivered run
 * resumes where it stopped. Later features plug in a kind (task, orchestration) without touching
 * the engine.
 */
export interface RunHandler {
  readonly kind: RunKind;
  prepare(run: Run): Promise<Preparation>;
  execute(context: RunContext): Promise<RunOutcome>;
}

/** Thrown by a handler to hand its run back (the worker is draining); it resumes elsewhere. */
export class RunYieldSignal extends Error {
  constructor() {
    super('yield: the worker is shutting down');
  }
}

export class UnknownRunKindError extends Error {
  constructor(kind: string) {
    super(`No handler for runs of kind "${kind}"`);
  }
}

/** Handlers register here at module init. */
@Injectable()
export class RunHandlers {
  private readonly byKind = new Map<string, RunHandler>();

  register(handler: RunHandler): void {
    if (this.byKind.has(handler.kind))
      throw new Error(`Two run handlers for kind "${handler.kind}"`);
    this.byKind.set(handler.kind, handler);
  }

  get(kind: string): RunHandler {
    const handler = this.byKind.get(kind);
    if (!handler) throw new UnknownRunKindError(kind);
    return handler;
  }
}

export type { RunWarning };
