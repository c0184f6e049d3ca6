import { Command } from '@nestjs/cqrs';
import { type Project } from '../../entities/project.entity';

export class CreateProjectCommand extends Command<Project> {
  constructor(
    readonly ownerId: string,
    readonly name: string,
    readonly description: string | null,
  ) {
    super();
  }
}
