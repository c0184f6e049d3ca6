import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { DomainEvents, ISOLATION_DENIALS } from '@codelab/platform';
import { Project } from '../../entities/project.entity';
import { PROJECT_DELETED, type ProjectDeletedPayload } from '../../events/project-deleted.event';
import { projectNotFound } from '../../project-not-found';
import { DeleteProjectCommand } from './delete-project.command';

/**
 * Deletes the project (its rows go by ON DELETE CASCADE) and records `project.deleted` in the same
 * transaction; what lives outside PostgreSQL (memory vectors, executing runs) is cleaned up by the
 * event's handlers in a worker, with retries.
 */
@CommandHandler(DeleteProjectCommand)
export class DeleteProjectHandler implements ICommandHandler<DeleteProjectCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly domainEvents: DomainEvents,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ projectId, ownerId }: DeleteProjectCommand): Promise<void> {
    await this.em.fork().transactional(async (tx) => {
      // Owner in the WHERE clause: a foreign project is simply not matched.
      const deleted = await tx.nativeDelete(Project, { id: projectId, owner: ownerId });
      if (deleted === 0) throw projectNotFound(this.denials);
      await this.domainEvents.record(tx, {
        type: PROJECT_DELETED,
        aggregateType: 'project',
        aggregateId: projectId,
        ownerId,
        payload: { project_id: projectId, owner_id: ownerId } satisfies ProjectDeletedPayload,
      });
    });
  }
}
