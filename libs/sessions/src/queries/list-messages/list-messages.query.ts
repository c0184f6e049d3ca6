import { Query } from '@nestjs/cqrs';
import { type MessageDto } from '../../dto/session.dto';

/** One page of a session's messages by seq (the session is already known to be the caller's). */
export class ListMessagesQuery extends Query<{ items: MessageDto[]; hasMore: boolean }> {
  constructor(
    readonly sessionId: string,
    readonly limit: number,
    readonly before?: number,
    readonly after?: number,
  ) {
    super();
  }
}
