import { Command } from '@nestjs/cqrs';
import { type Run } from '../../entities/run.entity';
import { type StepStatus } from '../../entities/run-step.entity';

/** What ends the awaiting step of a parked run (an approval decision, a child's result). */
export interface StepResolution {
  seq: number;
  status: StepStatus;
  result?: unknown;
  error?: { code: string; message: string } | null;
}

/**
 * Puts a parked run back in the queue, with the steps it was waiting for resolved, in one
 * transaction. Idempotent: a run no longer parked is returned unchanged (null = not found).
 */
export class ResumeRunCommand extends Command<Run | null> {
  constructor(
    readonly runId: string,
    readonly resolutions: StepResolution[] = [],
    readonly reason = 'resumed',
  ) {
    super();
  }
}
