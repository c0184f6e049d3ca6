import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { Project, withSettings } from '../../entities/project.entity';
import { projectNotFound } from '../../project-not-found';
import { UpdateProjectCommand } from './update-project.command';

@CommandHandler(UpdateProjectCommand)
export class UpdateProjectHandler implements ICommandHandler<UpdateProjectCommand> {
  constructor(
    private readonly em: EntityManager,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ projectId, ownerId, changes }: UpdateProjectCommand): Promise<Project> {
    const project = await this.em.findOne(Project, { id: projectId, owner: ownerId });
    if (!project) throw projectNotFound(this.denials);
    if (changes.name !== undefined) project.name = changes.name;
    if (changes.description !== undefined) project.description = changes.description;
    if (changes.settings) project.settings = withSettings(project, changes.settings);
    await this.em.flush();
    return project;
  }
}
