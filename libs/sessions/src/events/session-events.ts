/**
 * Everything that happens in a session, published on the EventBus after the write it reports
 * has committed. Consumed by streaming (and metrics); never a write path.
 */
export type SessionEventType =
  | 'message_received'
  | 'run_queued'
  | 'run_started'
  | 'token'
  | 'message_completed'
  | 'run_completed'
  | 'run_failed'
  | 'run_cancelled';

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
