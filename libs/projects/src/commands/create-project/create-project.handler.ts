import { CommandHandler, EventBus, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { Project } from '../../entities/project.entity';
import { ProjectCreatedEvent } from '../../events/project-created.event';
import { CreateProjectCommand } from './create-project.command';

@CommandHandler(CreateProjectCommand)
export class CreateProjectHandler implements ICommandHandler<CreateProjectCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly events: EventBus,
  ) {}

  async execute(command: CreateProjectCommand): Promise<Project> {
    const project = await this.em.transactional(async (tx) => {
      const created = tx.create(Project, {
        owner: command.ownerId,
        name: command.name,
        description: command.description,
      });
      tx.persist(created);
      return created;
    });
    this.events.publish(new ProjectCreatedEvent(project.id, command.ownerId));
    return project;
  }
}
