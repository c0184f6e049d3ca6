import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { findKeysetPage } from '@codelab/platform';
import { Project } from '../../entities/project.entity';
import { ListProjectsQuery, type ProjectPage } from './list-projects.query';

@QueryHandler(ListProjectsQuery)
export class ListProjectsHandler implements IQueryHandler<ListProjectsQuery> {
  constructor(private readonly em: EntityManager) {}

  execute({ ownerId, limit, cursor }: ListProjectsQuery): Promise<ProjectPage> {
    // Served by the (owner_id, created_at DESC, id DESC) index.
    return findKeysetPage(
      this.em,
      Project,
      { owner: ownerId },
      { limit, cursor, direction: 'desc' },
    );
  }
}
