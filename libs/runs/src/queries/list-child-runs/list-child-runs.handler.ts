import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { Run } from '../../entities/run.entity';
import { ListChildRunsQuery } from './list-child-runs.query';

@QueryHandler(ListChildRunsQuery)
export class ListChildRunsHandler implements IQueryHandler<ListChildRunsQuery> {
  constructor(private readonly em: EntityManager) {}

  execute({ parentRunId }: ListChildRunsQuery): Promise<Run[]> {
    return this.em.find(
      Run,
      { parentRunId },
      { orderBy: { createdAt: 'asc', id: 'asc' }, disableIdentityMap: true },
    );
  }
}
