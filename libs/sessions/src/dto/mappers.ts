import { type Message, type ToolCallRecord } from '../entities/message.entity';
import { type MessageDto } from './session.dto';

export function toMessageDto(m: Message): MessageDto {
  return {
    id: m.id,
    session_id: m.session.id,
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
  tool_calls: ToolCallRecord[] | string | null;
  tool_call_id: string | null;
  metadata: Record<string, unknown> | string;
  created_at: Date | string;
}

const json = <T>(value: T | string): T =>
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
    created_at: new Date(r.created_at).toISOString(),
  };
}
