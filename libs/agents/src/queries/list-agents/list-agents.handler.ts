import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { findKeysetPage } from '@codelab/platform';
import { Agent } from '../../entities/agent.entity';
import { type AgentPage, ListAgentsQuery } from './list-agents.query';

@QueryHandler(ListAgentsQuery)
export class ListAgentsHandler implements IQueryHandler<ListAgentsQuery> {
  constructor(private readonly em: EntityManager) {}

  execute({ projectId, ownerId, limit, cursor }: ListAgentsQuery): Promise<AgentPage> {
    return findKeysetPage(
      this.em,
      Agent,
      { project: projectId, ownerId },
      { limit, cursor, direction: 'asc' },
    );
  }
}
