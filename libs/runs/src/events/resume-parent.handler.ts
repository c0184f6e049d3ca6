import type { EntityManager } from '@mikro-orm/postgresql';
import type { DomainEvent, DomainEventHandler } from '@codelab/platform';
import { RunStatus } from '../entities/run.entity';
import type { RunLifecycle } from '../lifecycle/run-lifecycle';

/**
 * The saga that joins child runs: when a child finishes and none of its siblings is still active,
 * the parent waiting in awaiting_children goes back to the queue (its handler reads the children's
 * results from the journal). Idempotent by event id; a second finished child finds the parent
 * already resumed and does nothing.
 */
export function resumeParentHandler(lifecycle: RunLifecycle): DomainEventHandler {
  return {
    name: 'runs.resume-parent-when-children-finish',
    types: ['run.finished'],
    accepts: (event) =>
      typeof event.payload.parent_run_id === 'string' && event.payload.plan_task === undefined,
    async handle(event: DomainEvent, tx: EntityManager) {
      const parentId = event.payload.parent_run_id;
      if (typeof parentId !== 'string') return;
      if (await lifecycle.hasActiveChildren(tx, parentId)) return;
      const resumed = await lifecycle.transition(tx, parentId, RunStatus.Queued, {
        from: [RunStatus.AwaitingChildren],
        reason: 'children_finished',
      });
      if (resumed) return () => lifecycle.afterCommit(resumed);
    },
  };
}
