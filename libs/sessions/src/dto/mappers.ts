import { type Message, type ToolCallRecord } from '../entities/message.entity';
import { type MessageDto } from './session.dto';

/** Raw message rows (read path: no entity hydration). */
export interface MessageRow {
  id: string;
  session_id: string;
  seq: number;
  role: Message['role'];
  content: string;
  agent_id: string | null;
  agent_name: string | null;
  run_id: string | null;
  /** Selected by the message log only. */
  step_seq?: number | null;
  tool_calls: ToolCallRecord[] | string | null;
  tool_call_id: string | null;
  metadata: Record<string, unknown> | string;
  internal: boolean;
  created_at: Date | string;
}

/** A json(b) column as node-postgres or a raw driver hands it over. */
export const json = <T>(value: T | string): T =>
  typeof value === 'string' ? (JSON.parse(value) as T) : value;

export function messageRowToDto(r: MessageRow): MessageDto {
  return {
    id: r.id,
    session_id: r.session_id,
    seq: r.seq,
    role: r.role,
    content: r.content,
    agent_id: r.agent_id,
    agent_name: r.agent_name,
    run_id: r.run_id,
    tool_calls: r.tool_calls === null ? null : json(r.tool_calls),
    tool_call_id: r.tool_call_id,
    metadata: json(r.metadata),
    internal: r.internal,
    created_at: new Date(r.created_at).toISOString(),
  };
}
