import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { Project } from '../../entities/project.entity';
import { projectNotFound } from '../../project-not-found';
import { ProjectLifecycleHooks } from '../../project-lifecycle-hooks';
import { DeleteProjectCommand } from './delete-project.command';

@CommandHandler(DeleteProjectCommand)
export class DeleteProjectHandler implements ICommandHandler<DeleteProjectCommand> {
  constructor(
    private readonly em: EntityManager,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
    private readonly hooks: ProjectLifecycleHooks,
  ) {}

  async execute({ projectId, ownerId }: DeleteProjectCommand): Promise<void> {
    // Owner in the WHERE clause: a foreign project is simply not matched.
    const deleted = await this.em.nativeDelete(Project, { id: projectId, owner: ownerId });
    if (deleted === 0) throw projectNotFound(this.denials);
    // Rows owned by the project went with it (ON DELETE CASCADE); hooks clean up the rest.
    await this.hooks.runDeleted(ownerId, projectId);
  }
}
