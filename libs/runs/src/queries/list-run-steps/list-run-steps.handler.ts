import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { RunStep } from '../../entities/run-step.entity';
import { Run } from '../../entities/run.entity';
import { runNotFound } from '../../runs.errors';
import { ListRunStepsQuery } from './list-run-steps.query';

@QueryHandler(ListRunStepsQuery)
export class ListRunStepsHandler implements IQueryHandler<ListRunStepsQuery> {
  constructor(
    private readonly em: EntityManager,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ sessionId, runId, ownerId, limit, after }: ListRunStepsQuery) {
    const owned = await this.em.count(Run, { id: runId, sessionId, ownerId });
    if (!owned) throw runNotFound(this.denials);
    const rows = await this.em.find(
      RunStep,
      { runId, seq: { $gt: after } },
      { orderBy: { seq: 'asc' }, limit: limit + 1, disableIdentityMap: true },
    );
    const items = rows.slice(0, limit);
    return { items, nextAfter: rows.length > limit ? (items.at(-1)?.seq ?? null) : null };
  }
}
