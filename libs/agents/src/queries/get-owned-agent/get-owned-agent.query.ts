import { Query } from '@nestjs/cqrs';
import { type Agent } from '../../entities/agent.entity';

/** An agent by id, project AND owner in one query; not-found for missing and foreign alike. */
export class GetOwnedAgentQuery extends Query<Agent> {
  constructor(
    readonly projectId: string,
    readonly agentId: string,
    readonly ownerId: string,
  ) {
    super();
  }
}
