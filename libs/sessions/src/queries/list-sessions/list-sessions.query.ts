import { Query } from '@nestjs/cqrs';
import { type ChatSession } from '../../entities/chat-session.entity';

export class ListSessionsQuery extends Query<{ items: ChatSession[]; nextCursor: string | null }> {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
    readonly limit: number,
    readonly cursor?: string,
    readonly includeArchived = false,
  ) {
    super();
  }
}
