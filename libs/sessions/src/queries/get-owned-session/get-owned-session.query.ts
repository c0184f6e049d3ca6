import { Query } from '@nestjs/cqrs';
import { type ChatSession } from '../../entities/chat-session.entity';

/** A session by id, project AND owner in one query; not-found for missing and foreign alike. */
export class GetOwnedSessionQuery extends Query<ChatSession> {
  constructor(
    readonly projectId: string,
    readonly sessionId: string,
    readonly ownerId: string,
  ) {
    super();
  }
}
