import { Injectable } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';

export interface SessionAgentChange {
  /** The agent that answered until now (null: the project's default). */
  previousAgentId: string | null;
  archived: boolean;
}

/**
 * The sessions feature's API over "who answers next" for features that move a conversation between
 * agents (hand-offs): read and set the session's current agent in the caller's transaction, with
 * the session's row locked and its owner in the query.
 */
@Injectable()
export class CurrentAgent {
  /** Sets it; null when the session is not the owner's (or gone). Archived sessions are left as they are. */
  async set(
    tx: EntityManager,
    session: { sessionId: string; projectId: string; ownerId: string },
    agentId: string,
  ): Promise<SessionAgentChange | null> {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    const [row] = await conn.execute<
      { current_agent_id: string | null; archived_at: Date | null }[]
    >(
      `select current_agent_id, archived_at from chat_sessions
        where id = ? and project_id = ? and owner_id = ? for update`,
      [session.sessionId, session.projectId, session.ownerId],
      'all',
      ctx,
    );
    if (!row) return null;
    if (row.archived_at) return { previousAgentId: row.current_agent_id, archived: true };
    await conn.execute(
      `update chat_sessions set current_agent_id = ?, updated_at = now() where id = ?`,
      [agentId, session.sessionId],
      'run',
      ctx,
    );
    return { previousAgentId: row.current_agent_id, archived: false };
  }
}
