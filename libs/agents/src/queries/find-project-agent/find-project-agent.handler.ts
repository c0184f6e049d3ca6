import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager, type FilterQuery } from '@mikro-orm/postgresql';
import { UUID_PATTERN } from '@codelab/platform';
import { Agent } from '../../entities/agent.entity';
import { FindProjectAgentQuery } from './find-project-agent.query';

@QueryHandler(FindProjectAgentQuery)
export class FindProjectAgentHandler implements IQueryHandler<FindProjectAgentQuery> {
  constructor(private readonly em: EntityManager) {}

  async execute({ projectId, ownerId, nameOrId }: FindProjectAgentQuery): Promise<Agent | null> {
    const where: FilterQuery<Agent> = { project: projectId, ownerId };
    if (nameOrId !== undefined) {
      where.$or = UUID_PATTERN.test(nameOrId)
        ? [{ id: nameOrId }, { name: nameOrId }]
        : [{ name: nameOrId }];
    }
    return this.em.findOne(Agent, where, { orderBy: { createdAt: 'asc', id: 'asc' } });
  }
}
