import { DomainError, ResourceNotFoundError } from '@codelab/platform';
import type { Counter } from 'prom-client';

export class RunAlreadyFinishedError extends DomainError {
  readonly code = 'RUN_ALREADY_FINISHED';
  readonly kind = 'conflict' as const;
  constructor(status: string) {
    super(`The run already finished (${status})`, { run_status: status });
  }
}

export class RunNotParkedError extends DomainError {
  readonly code = 'RUN_NOT_PARKED';
  readonly kind = 'conflict' as const;
  constructor(status: string) {
    super(`The run is not waiting to be resumed (${status})`, { run_status: status });
  }
}

/** Missing and foreign runs are one answer; both count as an isolation denial. */
export function runNotFound(denials: Counter<string>): ResourceNotFoundError {
  denials.inc({ resource: 'run' });
  return new ResourceNotFoundError('Run');
}
