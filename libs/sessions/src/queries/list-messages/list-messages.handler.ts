import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { messageRowToDto, type MessageRow } from '../../dto/mappers';
import { ListMessagesQuery } from './list-messages.query';

const COLUMNS =
  'id, session_id, seq, role, content, agent_id, agent_name, run_id, tool_calls, tool_call_id, metadata, internal, created_at';

/**
 * Keyset pages on (session_id, seq), served by the unique index on those columns: no OFFSET, and
 * rows go straight to DTOs without entity hydration.
 */
@QueryHandler(ListMessagesQuery)
export class ListMessagesHandler implements IQueryHandler<ListMessagesQuery> {
  constructor(private readonly em: EntityManager) {}

  async execute({ sessionId, limit, before, after }: ListMessagesQuery) {
    const conn = this.em.getConnection();
    let rows: MessageRow[];
    if (after !== undefined) {
      rows = await conn.execute<MessageRow[]>(
        `select ${COLUMNS} from messages where session_id = ? and seq > ? ${before !== undefined ? 'and seq < ?' : ''} order by seq asc limit ?`,
        before !== undefined
          ? [sessionId, after, before, limit + 1]
          : [sessionId, after, limit + 1],
      );
      return { items: rows.slice(0, limit).map(messageRowToDto), hasMore: rows.length > limit };
    }
    // Newest page (or the page just before `before`), returned in ascending order.
    rows = await conn.execute<MessageRow[]>(
      `select ${COLUMNS} from messages where session_id = ? ${before !== undefined ? 'and seq < ?' : ''} order by seq desc limit ?`,
      before !== undefined ? [sessionId, before, limit + 1] : [sessionId, limit + 1],
    );
    return {
      items: rows.slice(0, limit).reverse().map(messageRowToDto),
      hasMore: rows.length > limit,
    };
  }
}
