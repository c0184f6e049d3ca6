import { Query } from '@nestjs/cqrs';
import { type Run } from '../../entities/run.entity';

/** The runs a run spawned (for a parent resuming from awaiting_children), oldest first. */
export class ListChildRunsQuery extends Query<Run[]> {
  constructor(readonly parentRunId: string) {
    super();
  }
}
