/**
 * Everything that happens in a session, published on the EventBus after the write it reports
 * has committed, and appended to the session's Redis Stream for its SSE clients. Live updates
 * only, never a write path: a client that misses one resyncs over REST.
 */
export type SessionEventType =
  | 'message_received'
  | 'run_queued'
  | 'run_started'
  | 'token'
  | 'tool_call'
  | 'tool_result'
  | 'file_changed'
  | 'approval_requested'
  | 'approval_resolved'
  | 'message_completed'
  | 'run_parked'
  | 'run_completed'
  | 'run_failed'
  | 'run_cancelled'
  | 'agent_switched'
  | 'delegation_started'
  | 'delegation_finished'
  | 'plan_created'
  | 'plan_approval_requested'
  | 'task_started'
  | 'task_completed'
  | 'task_failed'
  | 'task_skipped'
  | 'orchestration_completed';

export class SessionEvent {
  readonly ts = new Date().toISOString();

  constructor(
    readonly type: SessionEventType,
    readonly sessionId: string,
    readonly runId: string | null,
    readonly agentId: string | null,
    readonly payload: Record<string, unknown> = {},
  ) {}
}
