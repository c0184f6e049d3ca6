import { RunStatus } from '../entities/run.entity';

/**
 * The run state machine. Every status change goes through RunLifecycle.transition, which applies
 * it with a conditional UPDATE (the current status must be one of the allowed sources), so two
 * processes racing to move a run cannot both win.
 *
 *   queued -> running -> awaiting_approval | awaiting_children -> queued (resume) -> running
 *   running -> completed | failed | cancelled | queued (handed back: lease lapsed, re-dispatch)
 *   queued | parked -> cancelled | failed | expired
 */
export const RUN_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  [RunStatus.Queued]: [RunStatus.Running, RunStatus.Cancelled, RunStatus.Failed, RunStatus.Expired],
  [RunStatus.Running]: [
    // A newer execution claims a run whose worker died or was superseded (epoch + 1).
    RunStatus.Running,
    RunStatus.Completed,
    RunStatus.Failed,
    RunStatus.Cancelled,
    RunStatus.AwaitingApproval,
    RunStatus.AwaitingChildren,
    RunStatus.Queued,
  ],
  [RunStatus.AwaitingApproval]: [
    RunStatus.Queued,
    RunStatus.Cancelled,
    RunStatus.Failed,
    RunStatus.Expired,
  ],
  [RunStatus.AwaitingChildren]: [
    RunStatus.Queued,
    RunStatus.Cancelled,
    RunStatus.Failed,
    RunStatus.Expired,
  ],
  [RunStatus.Completed]: [],
  [RunStatus.Failed]: [],
  [RunStatus.Cancelled]: [],
  [RunStatus.Expired]: [],
};

export function canTransition(from: RunStatus, to: RunStatus): boolean {
  return RUN_TRANSITIONS[from].includes(to);
}

/** The statuses a run may be in to move to `to`. */
export function sourcesOf(to: RunStatus): RunStatus[] {
  return (Object.keys(RUN_TRANSITIONS) as RunStatus[]).filter((from) => canTransition(from, to));
}

/** The domain event a transition records, if any (final states, parking, resuming). */
export function eventTypeOf(from: RunStatus | null, to: RunStatus): string | null {
  switch (to) {
    case RunStatus.Completed:
    case RunStatus.Failed:
    case RunStatus.Cancelled:
    case RunStatus.Expired:
      return 'run.finished';
    case RunStatus.AwaitingApproval:
    case RunStatus.AwaitingChildren:
      return 'run.parked';
    case RunStatus.Queued:
      return from === RunStatus.AwaitingApproval || from === RunStatus.AwaitingChildren
        ? 'run.resumed'
        : null;
    default:
      return null;
  }
}
