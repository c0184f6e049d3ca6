import { DomainError } from '@codelab/platform';

export class UnknownAgentError extends DomainError {
  readonly code = 'UNKNOWN_AGENT';
  readonly kind = 'unprocessable' as const;
  constructor(agent: string) {
    super(`No agent "${agent}" in this project`, { agent });
  }
}

export class SessionArchivedError extends DomainError {
  readonly code = 'SESSION_ARCHIVED';
  readonly kind = 'conflict' as const;
  constructor() {
    super('The session is archived: its agent cannot change');
  }
}
