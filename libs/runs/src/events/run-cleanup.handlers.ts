import type { EntityManager } from '@mikro-orm/postgresql';
import type { DomainEvent, DomainEventHandler } from '@codelab/platform';
import { AGENT_DELETED, type AgentDeletedPayload } from '@codelab/agents';
import { PROJECT_DELETED, type ProjectDeletedPayload } from '@codelab/projects';
import { ACTIVE_RUN_STATUSES_SQL } from '../entities/run.entity';
import type { RunCancellation } from '../execution/run-cancellation';
import type { RunLifecycle, Transitioned } from '../lifecycle/run-lifecycle';

/**
 * Deleting an agent cancels its runs that have not finished (queued and parked ones at once, in
 * the event's transaction; executing ones are signalled); deleting a project removes its runs and
 * their journals, and stops the executing ones.
 */
export function runCleanupHandlers(
  lifecycle: RunLifecycle,
  cancellation: RunCancellation,
): DomainEventHandler[] {
  return [
    {
      name: 'runs.cancel-deleted-agent-runs',
      types: [AGENT_DELETED],
      async handle(event: DomainEvent, tx: EntityManager) {
        const p = event.payload as unknown as AgentDeletedPayload;
        const runs = await tx.getConnection().execute<{ id: string; status: string }[]>(
          `select id, status from runs where agent_id = ? and owner_id = ?
             and status in ${ACTIVE_RUN_STATUSES_SQL}`,
          [p.agent_id, p.owner_id],
          'all',
          tx.getTransactionContext(),
        );
        const moved: Transitioned[] = [];
        const signals: string[] = [];
        for (const run of runs) {
          const decision = await lifecycle.requestCancel(tx, run.id, 'agent_deleted', {
            code: 'AGENT_DELETED',
            message: 'The agent was deleted before the run finished',
          });
          if (decision && 'cancelled' in decision) moved.push(decision.cancelled);
          else if (decision) signals.push(decision.signal);
        }
        // The queue and stream side effects follow the commit of this handler's transaction.
        return async () => {
          for (const t of moved) await lifecycle.afterCommit(t);
          for (const runId of signals) await cancellation.requestCancel(runId);
        };
      },
    },
    {
      name: 'runs.remove-deleted-project-runs',
      types: [PROJECT_DELETED],
      async handle(event: DomainEvent, tx: EntityManager) {
        const p = event.payload as unknown as ProjectDeletedPayload;
        const conn = tx.getConnection();
        const ctx = tx.getTransactionContext();
        const scope = 'select id from runs where project_id = ? and owner_id = ?';
        await conn.execute(
          `delete from run_steps where run_id in (${scope})`,
          [p.project_id, p.owner_id],
          'run',
          ctx,
        );
        await conn.execute(
          `delete from run_outbox where run_id in (${scope})`,
          [p.project_id, p.owner_id],
          'run',
          ctx,
        );
        await conn.execute(
          'delete from runs where project_id = ? and owner_id = ?',
          [p.project_id, p.owner_id],
          'run',
          ctx,
        );
        // Executing ones stop at once (their next write would be refused anyway).
        return () => cancellation.requestCancelProject(p.project_id);
      },
    },
  ];
}
