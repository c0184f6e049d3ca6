import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager, type FilterQuery } from '@mikro-orm/postgresql';
import { findKeysetPage } from '@codelab/platform';
import { ChatSession } from '../../entities/chat-session.entity';
import { ListSessionsQuery } from './list-sessions.query';

@QueryHandler(ListSessionsQuery)
export class ListSessionsHandler implements IQueryHandler<ListSessionsQuery> {
  constructor(private readonly em: EntityManager) {}

  execute({ projectId, ownerId, limit, cursor, includeArchived }: ListSessionsQuery) {
    const where: FilterQuery<ChatSession> = { project: projectId, ownerId };
    if (!includeArchived) where.archivedAt = null;
    // Everything a list item shows is a column of the session row: one query, no N+1.
    return findKeysetPage(this.em, ChatSession, where, { limit, cursor, direction: 'desc' });
  }
}
