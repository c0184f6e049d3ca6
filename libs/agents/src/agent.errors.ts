import { DomainError } from '@codelab/platform';

export class AgentNameTakenError extends DomainError {
  readonly code = 'AGENT_NAME_TAKEN';
  readonly kind = 'conflict' as const;
  constructor(name: string) {
    super(`An agent named "${name}" already exists in this project`, { name });
  }
}
