import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { Plan, PlanTask } from '../../entities/plan.entity';
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
