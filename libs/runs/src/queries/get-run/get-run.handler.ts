import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { Run } from '../../entities/run.entity';
import { runNotFound } from '../../runs.errors';
import { GetRunQuery } from './get-run.query';

@QueryHandler(GetRunQuery)
export class GetRunHandler implements IQueryHandler<GetRunQuery> {
  constructor(
    private readonly em: EntityManager,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ sessionId, runId, ownerId }: GetRunQuery): Promise<Run> {
    const run = await this.em.findOne(
      Run,
      { id: runId, sessionId, ownerId },
      { disableIdentityMap: true },
    );
    if (!run) throw runNotFound(this.denials);
    return run;
  }
}
