import { Query } from '@nestjs/cqrs';
import { type Project } from '../../entities/project.entity';

/** A project by id AND owner; throws not-found for a missing or foreign project alike. */
export class GetOwnedProjectQuery extends Query<Project> {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
  ) {
    super();
  }
}
