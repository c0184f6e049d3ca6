import { Query } from '@nestjs/cqrs';
import type { Plan, PlanTask } from '../../entities/plan.entity';

/** The plan of an orchestration run, with its tasks in plan order; null when it has none. */
export class GetPlanQuery extends Query<{ plan: Plan; tasks: PlanTask[] } | null> {
  constructor(
    readonly runId: string,
    readonly ownerId: string,
  ) {
    super();
  }
}
