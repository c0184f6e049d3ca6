import { Injectable } from '@nestjs/common';
import { ResourceNotFoundError } from '@codelab/platform';
import { EntityManager } from '@mikro-orm/postgresql';
import { json, type MessageRow } from '../dto/mappers';
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
  /** A delegated task's turn (see Message.internal). */
  internal?: boolean;
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
  internal: boolean;
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
   * Appends in `tx`: the session's next seq (gap-free: the counter row is bumped in the same
   * transaction and rolls back with it) and one INSERT. A run step's message is unique by
   * (run, step): a second one for the same step is refused by the database.
   */
  async append(tx: EntityManager, input: AppendMessage): Promise<LoggedMessage> {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    const [row] = await conn.execute<MessageRow[]>(
      `with bumped as (
         update chat_sessions set last_seq = last_seq + 1, updated_at = now() where id = ? returning last_seq
       )
       insert into messages (id, session_id, seq, role, content, agent_id, agent_name, run_id, step_seq,
         tool_calls, tool_call_id, metadata, internal)
       select gen_random_uuid(), ?, last_seq, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?::jsonb, ? from bumped
       returning ${COLUMNS}`,
      [
        input.sessionId,
        input.sessionId,
        input.role,
        input.content,
        input.agentId ?? null,
        input.agentName ?? null,
        input.runId ?? null,
        input.stepSeq ?? null,
        input.toolCalls ? JSON.stringify(input.toolCalls) : null,
        input.toolCallId ?? null,
        JSON.stringify(input.metadata ?? {}),
        input.internal ?? false,
      ],
      'all',
      ctx,
    );
    // The session went with its project while a run was still answering in it.
    if (!row) throw new ResourceNotFoundError('Session');
    return fromRow(row);
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
        internal: false,
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

const COLUMNS =
  'id, session_id, seq, role, content, agent_id, agent_name, run_id, step_seq, tool_calls, tool_call_id, metadata, internal, created_at';

function fromRow(r: MessageRow): LoggedMessage {
  return {
    id: r.id,
    seq: r.seq,
    role: r.role,
    content: r.content,
    runId: r.run_id,
    stepSeq: r.step_seq ?? null,
    toolCalls: r.tool_calls === null ? null : json(r.tool_calls),
    toolCallId: r.tool_call_id,
    metadata: json(r.metadata),
    internal: r.internal,
    agentId: r.agent_id,
    agentName: r.agent_name,
    sessionId: r.session_id,
    createdAt: new Date(r.created_at),
  };
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
    internal: m.internal,
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
    internal: m.internal,
    created_at: new Date(m.createdAt).toISOString(),
  };
}
