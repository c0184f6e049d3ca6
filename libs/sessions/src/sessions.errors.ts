import { DomainError, ResourceNotFoundError } from '@codelab/platform';
import type { Counter } from 'prom-client';

export class SessionArchivedError extends DomainError {
  readonly code = 'SESSION_ARCHIVED';
  readonly kind = 'conflict' as const;
  constructor() {
    super('The session is archived and accepts no new messages');
  }
}

export class UnknownTargetAgentError extends DomainError {
  readonly code = 'UNKNOWN_AGENT';
  readonly kind = 'unprocessable' as const;
  constructor(target: string) {
    super(`No agent "${target}" in this project`, { target_agent: target });
  }
}

export class NoAgentError extends DomainError {
  readonly code = 'NO_AGENT';
  readonly kind = 'unprocessable' as const;
  constructor() {
    super('The project has no agent to answer');
  }
}

export class IdempotencyKeyReusedError extends DomainError {
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  readonly kind = 'unprocessable' as const;
  constructor() {
    super('This Idempotency-Key was already used with a different request');
  }
}

export class RunInProgressError extends DomainError {
  readonly code = 'RUN_IN_PROGRESS';
  readonly kind = 'conflict' as const;
  constructor(runId: string, status: string) {
    super('A run of this conversation is still active (on_busy=reject)', {
      run_id: runId,
      run_status: status,
    });
  }
}

/** Missing and foreign resources are one answer; both count as an isolation denial. */
export function notFound(denials: Counter<string>, resource: 'session'): ResourceNotFoundError {
  denials.inc({ resource });
  return new ResourceNotFoundError('Session');
}
