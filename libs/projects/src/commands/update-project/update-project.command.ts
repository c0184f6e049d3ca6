import { Command } from '@nestjs/cqrs';
import { type Project } from '../../entities/project.entity';

export interface ProjectChanges {
  name?: string;
  description?: string | null;
}

export class UpdateProjectCommand extends Command<Project> {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
    readonly changes: ProjectChanges,
  ) {
    super();
  }
}
