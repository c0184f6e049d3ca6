import { type RunStep } from '../entities/run-step.entity';
import { type Run } from '../entities/run.entity';
import { type RunDto, type RunStepDto } from './run.dto';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function toRunDto(r: Run): RunDto {
  return {
    id: r.id,
    session_id: r.sessionId,
    agent_id: r.agentId,
    agent_name: r.agentName,
    parent_run_id: r.parentRunId,
    kind: r.kind,
    mode: r.mode,
    status: r.status,
    lane: r.lane,
    input_message_id: r.inputMessageId,
    output_message_id: r.outputMessageId,
    usage: r.usage,
    error: r.error,
    warnings: r.state.warnings ?? [],
    executions: r.executions,
    created_at: new Date(r.createdAt).toISOString(),
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    input: r.input ?? null,
    result: r.state.result ?? null,
  };
}

export function toRunStepDto(s: RunStep): RunStepDto {
  const started = new Date(s.startedAt);
  return {
    seq: s.seq,
    kind: s.kind,
    name: s.name,
    tool_call_id: s.toolCallId,
    args: s.args,
    args_digest: s.argsDigest,
    effect: s.effect,
    status: s.status,
    result: s.result,
    error: s.error,
    usage: s.usage,
    message_id: s.messageId,
    attempts: s.attempts,
    started_at: started.toISOString(),
    finished_at: iso(s.finishedAt),
    duration_ms: s.finishedAt ? new Date(s.finishedAt).getTime() - started.getTime() : null,
  };
}
