import { type Message } from '../entities/message.entity';
import { type Run } from '../entities/run.entity';
import { type MessageDto, type RunDto } from './session.dto';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

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
    metadata: m.metadata,
    created_at: m.createdAt.toISOString(),
  };
}

export function toRunDto(r: Run): RunDto {
  return {
    id: r.id,
    session_id: r.session.id,
    agent_id: r.agentId,
    agent_name: r.agentName,
    parent_run_id: r.parentRunId,
    mode: r.mode,
    status: r.status,
    input_message_id: r.inputMessageId,
    output_message_id: r.outputMessageId,
    usage: r.usage,
    error: r.error,
    warnings: r.steps.warnings ?? [],
    created_at: r.createdAt.toISOString(),
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
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
  metadata: Record<string, unknown> | string;
  created_at: Date | string;
}

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
    metadata:
      typeof r.metadata === 'string'
        ? (JSON.parse(r.metadata) as Record<string, unknown>)
        : r.metadata,
    created_at: new Date(r.created_at).toISOString(),
  };
}
