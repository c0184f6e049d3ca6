import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager, type FilterQuery } from '@mikro-orm/postgresql';
import { decodeCreatedAtCursor, encodeCreatedAtCursor } from '@codelab/platform';
import { ChatSession } from '../../entities/chat-session.entity';
import { ListSessionsQuery } from './list-sessions.query';

@QueryHandler(ListSessionsQuery)
export class ListSessionsHandler implements IQueryHandler<ListSessionsQuery> {
  constructor(private readonly em: EntityManager) {}

  async execute({ projectId, ownerId, limit, cursor, includeArchived }: ListSessionsQuery) {
    const where: FilterQuery<ChatSession> = { project: projectId, ownerId };
    if (!includeArchived) where.archivedAt = null;
    if (cursor) {
      const c = decodeCreatedAtCursor(cursor);
      where.$or = [
        { createdAt: { $lt: c.createdAt } },
        { createdAt: c.createdAt, id: { $lt: c.id } },
      ];
    }
    // One query for the page; everything shown is a column of the session row (no N+1).
    const rows = await this.em.find(ChatSession, where, {
      orderBy: { createdAt: 'desc', id: 'desc' },
      limit: limit + 1,
      disableIdentityMap: true,
    });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCreatedAtCursor(last) : null };
  }
}
