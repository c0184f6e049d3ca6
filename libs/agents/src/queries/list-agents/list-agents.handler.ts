import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager, type FilterQuery } from '@mikro-orm/postgresql';
import { decodeCreatedAtCursor, encodeCreatedAtCursor } from '@codelab/platform';
import { Agent } from '../../entities/agent.entity';
import { type AgentPage, ListAgentsQuery } from './list-agents.query';

@QueryHandler(ListAgentsQuery)
export class ListAgentsHandler implements IQueryHandler<ListAgentsQuery> {
  constructor(private readonly em: EntityManager) {}

  async execute({ projectId, ownerId, limit, cursor }: ListAgentsQuery): Promise<AgentPage> {
    const where: FilterQuery<Agent> = { project: projectId, ownerId };
    if (cursor) {
      const after = decodeCreatedAtCursor(cursor);
      where.$or = [
        { createdAt: { $gt: after.createdAt } },
        { createdAt: after.createdAt, id: { $gt: after.id } },
      ];
    }
    const rows = await this.em.find(Agent, where, {
      orderBy: { createdAt: 'asc', id: 'asc' },
      limit: limit + 1,
      disableIdentityMap: true,
    });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCreatedAtCursor(last) : null };
  }
}
