import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { findKeysetPage } from '@codelab/platform';
import { Run } from '../../entities/run.entity';
import { ListRunsQuery } from './list-runs.query';

@QueryHandler(ListRunsQuery)
export class ListRunsHandler implements IQueryHandler<ListRunsQuery> {
  constructor(private readonly em: EntityManager) {}

  execute({ sessionId, ownerId, limit, cursor }: ListRunsQuery) {
    return findKeysetPage(
      this.em,
      Run,
      { sessionId, ownerId },
      { limit, cursor, direction: 'desc' },
    );
  }
}
