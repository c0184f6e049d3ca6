import { Query } from '@nestjs/cqrs';
import { type Run } from '../../entities/run.entity';

/** A run by id, session AND owner. */
export class GetRunQuery extends Query<Run> {
  constructor(
    readonly sessionId: string,
    readonly runId: string,
    readonly ownerId: string,
  ) {
    super();
  }
}
