import { Injectable } from '@nestjs/common';
import { ResourceNotFoundError } from '@codelab/platform';
import { EntityManager } from '@mikro-orm/postgresql';
import { type MessageDto } from '../dto/session.dto';
import { Message, MessageRole, type ToolCallRecord } from '../entities/message.entity';

export interface AppendMessage {
  sessionId: string;
  role: MessageRole;
  content: string;
  agentId?: string | null;
  agentName?: string | null;
  runId?: string | null;
  stepSeq?: number | null;
  toolCalls?: ToolCallRecord[] | null;
  toolCallId?: string | null;
  metadata?: Record<string, unknown>;
}

/** A message as other features read it (prompt history, a run's own turns). */
export interface LoggedMessage {
  id: string;
  seq: number;
  role: MessageRole;
  content: string;
  runId: string | null;
  stepSeq: number | null;
  toolCalls: ToolCallRecord[] | null;
  toolCallId: string | null;
  metadata: Record<string, unknown>;
  agentId: string | null;
  agentName: string | null;
  sessionId: string;
  createdAt: Date;
}

/**
 * The sessions feature's API over its messages for the features that write and read a
 * conversation (the agent runtime): append in the caller's transaction (next seq, gap-free,
 * idempotent per run step), read history and a run's own turns.
 */
@Injectable()
export class MessageLog {
  constructor(private readonly em: EntityManager) {}

  /**
   * Appends in `tx`. A message for a (run, step) that already has one is not written again: the
   * existing one is returned (and the seq bump rolls back with the caller's transaction only if
   * the caller fails; here nothing is bumped).
   */
  async append(tx: EntityManager, input: AppendMessage): Promise<LoggedMessage> {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    if (input.runId && input.stepSeq !== undefined && input.stepSeq !== null) {
      const existing = await tx.findOne(Message, { runId: input.runId, stepSeq: input.stepSeq });
      if (existing) return toLogged(existing);
    }
    // Bumping the counter row serialises appends per session and rolls back with the
    // transaction, so seqs are gap-free.
    const [bumped] = await conn.execute<{ last_seq: number }[]>(
      'update chat_sessions set last_seq = last_seq + 1, updated_at = now() where id = ? returning last_seq',
      [input.sessionId],
      'all',
      ctx,
    );
    // The session went with its project while a run was still answering in it.
    if (!bumped) throw new ResourceNotFoundError('Session');
    const seq = bumped.last_seq;
    const message = tx.create(Message, {
      session: input.sessionId,
      seq,
      role: input.role,
      content: input.content,
      agentId: input.agentId ?? null,
      agentName: input.agentName ?? null,
      runId: input.runId ?? null,
      stepSeq: input.stepSeq ?? null,
      toolCalls: input.toolCalls ?? null,
      toolCallId: input.toolCallId ?? null,
      metadata: input.metadata ?? {},
    });
    await tx.flush();
    return toLogged(message);
  }

  async get(sessionId: string, messageId: string): Promise<LoggedMessage | null> {
    const m = await this.em.fork().findOne(Message, { id: messageId, session: sessionId });
    return m ? toLogged(m) : null;
  }

  /** Conversation before `beforeSeq` (user and assistant text turns), newest first. */
  async history(sessionId: string, beforeSeq: number, limit: number): Promise<LoggedMessage[]> {
    const rows = await this.em.fork().find(
      Message,
      {
        session: sessionId,
        seq: { $lt: beforeSeq },
        role: { $in: [MessageRole.User, MessageRole.Assistant] },
        toolCalls: null,
      },
      { orderBy: { seq: 'desc' }, limit, disableIdentityMap: true },
    );
    return rows.map(toLogged);
  }

  /** The messages a run appended (its assistant turns and tool results), in order. */
  async ofRun(runId: string): Promise<LoggedMessage[]> {
    const rows = await this.em
      .fork()
      .find(
        Message,
        { runId, stepSeq: { $ne: null } },
        { orderBy: { seq: 'asc' }, disableIdentityMap: true },
      );
    return rows.map(toLogged);
  }
}

function toLogged(m: Message): LoggedMessage {
  return {
    id: m.id,
    seq: m.seq,
    role: m.role,
    content: m.content,
    runId: m.runId,
    stepSeq: m.stepSeq,
    toolCalls: m.toolCalls,
    toolCallId: m.toolCallId,
    metadata: m.metadata,
    agentId: m.agentId,
    agentName: m.agentName,
    sessionId: m.session.id,
    createdAt: m.createdAt,
  };
}

/** The API shape of a logged message (stream events carry it). */
export function messageDtoOf(m: LoggedMessage): MessageDto {
  return {
    id: m.id,
    session_id: m.sessionId,
    seq: m.seq,
    role: m.role,
    content: m.content,
    agent_id: m.agentId,
    agent_name: m.agentName,
    run_id: m.runId,
    tool_calls: m.toolCalls,
    tool_call_id: m.toolCallId,
    metadata: m.metadata,
    created_at: new Date(m.createdAt).toISOString(),
  };
}
