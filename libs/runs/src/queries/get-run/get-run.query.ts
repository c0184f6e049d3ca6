import { Query } from '@nestjs/cqrs';
import { type Run } from '../../entities/run.entity';

/** A run by id, session AND owner (404 otherwise). */
export class GetRunQuery extends Query<Run> {
  constructor(
    readonly sessionId: string,
    readonly runId: string,
    readonly ownerId: string,
  ) {
    super();
  }
}
