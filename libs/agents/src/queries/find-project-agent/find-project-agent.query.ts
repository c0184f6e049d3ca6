import { Query } from '@nestjs/cqrs';
import { type Agent } from '../../entities/agent.entity';

/**
 * An agent of the caller's project by id or by name; with neither, the project's first agent.
 * Null when there is no such agent (never another owner's).
 */
export class FindProjectAgentQuery extends Query<Agent | null> {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
    readonly nameOrId?: string,
  ) {
    super();
  }
}
