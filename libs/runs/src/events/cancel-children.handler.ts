import type { EntityManager } from '@mikro-orm/postgresql';
import type { DomainEvent, DomainEventHandler } from '@codelab/platform';
import { ACTIVE_RUN_STATUSES_SQL } from '../entities/run.entity';
import type { RunCancellation } from '../execution/run-cancellation';
import type { RunLifecycle, Transitioned } from '../lifecycle/run-lifecycle';

/**
 * A parent that ends without its children (cancelled, failed, expired) takes them with it: queued
 * and parked children are cancelled in this handler's transaction, executing ones are signalled.
 * Each cancelled child's own run.finished cascades to its children in turn.
 */
export function cancelChildrenHandler(
  lifecycle: RunLifecycle,
  cancellation: RunCancellation,
): DomainEventHandler {
  return {
    name: 'runs.cancel-children-of-ended-parent',
    types: ['run.finished'],
    accepts: (event) => event.payload.delegated === true && event.payload.status !== 'completed',
    async handle(event: DomainEvent, tx: EntityManager) {
      const children = await tx
        .getConnection()
        .execute<{ id: string }[]>(
          `select id from runs where parent_run_id = ? and status in ${ACTIVE_RUN_STATUSES_SQL}`,
          [event.aggregateId],
          'all',
          tx.getTransactionContext(),
        );
      const moved: Transitioned[] = [];
      const signals: string[] = [];
      for (const child of children) {
        const decision = await lifecycle.requestCancel(tx, child.id, 'parent_ended', {
          code: 'PARENT_ENDED',
          message: `The run that delegated this task ended (${String(event.payload.status)})`,
        });
        if (decision && 'cancelled' in decision) moved.push(decision.cancelled);
        else if (decision) signals.push(decision.signal);
      }
      return async () => {
        for (const t of moved) await lifecycle.afterCommit(t);
        for (const runId of signals) await cancellation.requestCancel(runId);
      };
    },
  };
}
