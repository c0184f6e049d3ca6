import { Query } from '@nestjs/cqrs';
import { type Project } from '../../entities/project.entity';

export interface ProjectPage {
  items: Project[];
  nextCursor: string | null;
}

/** The owner's projects, newest first, one keyset page at a time. */
export class ListProjectsQuery extends Query<ProjectPage> {
  constructor(
    readonly ownerId: string,
    readonly limit: number,
    readonly cursor?: string,
  ) {
    super();
  }
}
