import type { EntityManager } from '@mikro-orm/postgresql';
import type { EventBus } from '@nestjs/cqrs';
import type { DomainEvent, DomainEventHandler } from '@codelab/platform';
import { PROJECT_DELETED, type ProjectDeletedPayload } from '@codelab/projects';
import { SessionEvent } from '@codelab/streaming';
import { toApprovalDto } from '../dto/approval.dto';
import type { ApprovalDecisions } from '../approval-decisions';
import { Approval } from '../entities/approval.entity';

const FINAL = ['completed', 'failed', 'cancelled', 'expired'];

/**
 * Approvals follow their run. A decision that came while the run was still settling into
 * awaiting_approval is handed over when it parks. Orphans: a run that ends while its approval is pending (cancelled by the user, its agent
 * deleted, its session archived, expired) takes the approval with it: `cancelled` by the system,
 * and a late decision is a 409. A deleted project's approvals go with it.
 */
export function approvalRunHandlers(
  events: EventBus,
  decisions: ApprovalDecisions,
): DomainEventHandler[] {
  return [
    {
      // A decision can land while its run is still settling into awaiting_approval; the park's
      // event hands it over at once (the sweeper would, within 2 s).
      name: 'approvals.resume-decided-on-park',
      types: ['run.parked'],
      accepts: (event) => event.payload.status === 'awaiting_approval',
      async handle(event: DomainEvent) {
        const runId = String(event.payload.run_id);
        return () => decisions.resumeDecidedOf(runId);
      },
    },
    {
      name: 'approvals.cancel-with-run',
      types: ['run.finished'],
      // A completed run has no pending approval (a waiting call parks it): only the other ends
      // are looked at, so the common path costs nothing.
      accepts: (event) =>
        FINAL.includes(String(event.payload.status)) && event.payload.status !== 'completed',
      async handle(event: DomainEvent, tx: EntityManager) {
        const rows = await tx.getConnection().execute<Record<string, unknown>[]>(
          `update approvals set status = 'cancelled', decided_by = 'system', decided_at = now(),
             decision_reason = ?, version = version + 1, resumed_at = now()
           where run_id = ? and status = 'pending' returning *`,
          [`the run ended (${String(event.payload.status)})`, event.payload.run_id],
          'all',
          tx.getTransactionContext(),
        );
        if (rows.length === 0) return;
        const cancelled = rows.map((row) => tx.map(Approval, row));
        return async () => {
          for (const a of cancelled)
            events.publish(
              new SessionEvent('approval_resolved', a.sessionId, a.runId, a.agentId, {
                approval: toApprovalDto(a),
              }),
            );
        };
      },
    },
    {
      name: 'approvals.delete-with-project',
      types: [PROJECT_DELETED],
      async handle(event: DomainEvent, tx: EntityManager) {
        const p = event.payload as unknown as ProjectDeletedPayload;
        await tx
          .getConnection()
          .execute(
            'delete from approvals where project_id = ?',
            [p.project_id],
            'run',
            tx.getTransactionContext(),
          );
      },
    },
  ];
}
