import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager, type FilterQuery } from '@mikro-orm/postgresql';
import { decodeCreatedAtCursor, encodeCreatedAtCursor } from '@codelab/platform';
import { Run } from '../../entities/run.entity';
import { ListRunsQuery } from './list-runs.query';

@QueryHandler(ListRunsQuery)
export class ListRunsHandler implements IQueryHandler<ListRunsQuery> {
  constructor(private readonly em: EntityManager) {}

  async execute({ sessionId, ownerId, limit, cursor }: ListRunsQuery) {
    const where: FilterQuery<Run> = { session: sessionId, ownerId };
    if (cursor) {
      const c = decodeCreatedAtCursor(cursor);
      where.$or = [
        { createdAt: { $lt: c.createdAt } },
        { createdAt: c.createdAt, id: { $lt: c.id } },
      ];
    }
    const rows = await this.em.find(Run, where, {
      orderBy: { createdAt: 'desc', id: 'desc' },
      limit: limit + 1,
      disableIdentityMap: true,
    });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCreatedAtCursor(last) : null };
  }
}
