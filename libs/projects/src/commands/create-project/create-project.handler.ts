import { CommandHandler, EventBus, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { Project, withSettings } from '../../entities/project.entity';
import { ProjectCreatedEvent } from '../../events/project-created.event';
import { ProjectLifecycleHooks } from '../../project-lifecycle-hooks';
import { CreateProjectCommand } from './create-project.command';

@CommandHandler(CreateProjectCommand)
export class CreateProjectHandler implements ICommandHandler<CreateProjectCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly events: EventBus,
    private readonly hooks: ProjectLifecycleHooks,
  ) {}

  async execute(command: CreateProjectCommand): Promise<Project> {
    const project = await this.em.transactional(async (tx) => {
      const created = tx.create(Project, {
        owner: command.ownerId,
        name: command.name,
        description: command.description,
        settings: command.settings ? withSettings({ settings: null }, command.settings) : null,
      });
      tx.persist(created);
      await tx.flush();
      await this.hooks.runCreate(tx, created);
      return created;
    });
    this.events.publish(new ProjectCreatedEvent(project.id, command.ownerId));
    return project;
  }
}
