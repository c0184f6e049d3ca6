import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager, type FilterQuery } from '@mikro-orm/postgresql';
import { decodeCreatedAtCursor, encodeCreatedAtCursor } from '@codelab/platform';
import { Project } from '../../entities/project.entity';
import { ListProjectsQuery, type ProjectPage } from './list-projects.query';

@QueryHandler(ListProjectsQuery)
export class ListProjectsHandler implements IQueryHandler<ListProjectsQuery> {
  constructor(private readonly em: EntityManager) {}

  async execute({ ownerId, limit, cursor }: ListProjectsQuery): Promise<ProjectPage> {
    const where: FilterQuery<Project> = { owner: ownerId };
    if (cursor) {
      const after = decodeCreatedAtCursor(cursor);
      // Row-value comparison keeps the (owner_id, created_at DESC, id DESC) index usable.
      where.$or = [
        { createdAt: { $lt: after.createdAt } },
        { createdAt: after.createdAt, id: { $lt: after.id } },
      ];
    }
    // One query; rows are read-only here, so they stay out of the identity map.
    const rows = await this.em.find(Project, where, {
      orderBy: { createdAt: 'desc', id: 'desc' },
      limit: limit + 1,
      disableIdentityMap: true,
    });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > limit && last ? encodeCreatedAtCursor(last) : null,
    };
  }
}
