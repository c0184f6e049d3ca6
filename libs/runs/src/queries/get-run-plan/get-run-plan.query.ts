import { Query } from '@nestjs/cqrs';

/**
 * The plan of an orchestration run as the API shows it, or null. Answered by the orchestration
 * feature (the run detail includes it without the runs feature knowing plans).
 */
export class GetRunPlanQuery extends Query<Record<string, unknown> | null> {
  constructor(
    readonly runId: string,
    readonly ownerId: string,
  ) {
    super();
  }
}
