import { Query } from '@nestjs/cqrs';
import { type RunStep } from '../../entities/run-step.entity';

/** A run's journal, after a seq (keyset); the run is checked by id, session AND owner. */
export class ListRunStepsQuery extends Query<{ items: RunStep[]; nextAfter: number | null }> {
  constructor(
    readonly sessionId: string,
    readonly runId: string,
    readonly ownerId: string,
    readonly limit: number,
    readonly after = 0,
  ) {
    super();
  }
}
