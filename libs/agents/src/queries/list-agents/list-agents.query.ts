import { Query } from '@nestjs/cqrs';
import { type Agent } from '../../entities/agent.entity';

export interface AgentPage {
  items: Agent[];
  nextCursor: string | null;
}

/** A project's agents, oldest first (the starter pack leads), one keyset page at a time. */
export class ListAgentsQuery extends Query<AgentPage> {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
    readonly limit: number,
    readonly cursor?: string,
  ) {
    super();
  }
}
