import { Command } from '@nestjs/cqrs';
import { type Project, type ProjectSettings } from '../../entities/project.entity';

export interface ProjectChanges {
  name?: string;
  description?: string | null;
  settings?: Partial<ProjectSettings>;
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
