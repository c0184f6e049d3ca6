import type { EntityManager } from '@mikro-orm/postgresql';
import type { DomainEvent, DomainEventHandler } from '@codelab/platform';
import { PROJECT_DELETED, type ProjectDeletedPayload } from '@codelab/projects';

/** A deleted project's plans and their tasks go with its runs. */
export function removeProjectPlansHandler(): DomainEventHandler {
  return {
    name: 'orchestration.remove-deleted-project-plans',
    types: [PROJECT_DELETED],
    async handle(event: DomainEvent, tx: EntityManager) {
      const p = event.payload as unknown as ProjectDeletedPayload;
      const conn = tx.getConnection();
      const ctx = tx.getTransactionContext();
      await conn.execute(
        `delete from plan_tasks where plan_id in (select id from plans where project_id = ? and owner_id = ?)`,
        [p.project_id, p.owner_id],
        'run',
        ctx,
      );
      await conn.execute(
        'delete from plans where project_id = ? and owner_id = ?',
        [p.project_id, p.owner_id],
        'run',
        ctx,
      );
    },
  };
}
