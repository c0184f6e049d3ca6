import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { Plan, PlanTask } from '../../entities/plan.entity';
import { GetRunPlanQuery } from '@codelab/runs';
import { toPlanDto } from '../../dto/plan.dto';
import { GetPlanQuery } from './get-plan.query';

@QueryHandler(GetPlanQuery)
export class GetPlanHandler implements IQueryHandler<GetPlanQuery> {
  constructor(private readonly em: EntityManager) {}

  async execute({ runId, ownerId }: GetPlanQuery) {
    const em = this.em.fork();
    const plan = await em.findOne(Plan, { runId, ownerId }, { disableIdentityMap: true });
    if (!plan) return null;
    const tasks = await em.find(
      PlanTask,
      { planId: plan.id },
      { orderBy: { position: 'asc' }, disableIdentityMap: true },
    );
    return { plan, tasks };
  }
}

/** The run detail's plan (the runs feature's query, answered here). */
@QueryHandler(GetRunPlanQuery)
export class GetRunPlanHandler implements IQueryHandler<GetRunPlanQuery> {
  constructor(private readonly plans: GetPlanHandler) {}

  async execute({ runId, ownerId }: GetRunPlanQuery): Promise<Record<string, unknown> | null> {
    const found = await this.plans.execute(new GetPlanQuery(runId, ownerId));
    return found ? { ...toPlanDto(found.plan, found.tasks) } : null;
  }
}
