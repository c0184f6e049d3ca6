import { Command } from '@nestjs/cqrs';
import { type Project, type ProjectSettings } from '../../entities/project.entity';

export class CreateProjectCommand extends Command<Project> {
  constructor(
    readonly ownerId: string,
    readonly name: string,
    readonly description: string | null,
    readonly settings: Partial<ProjectSettings> | null = null,
  ) {
    super();
  }
}
