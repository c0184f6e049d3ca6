import { Query } from '@nestjs/cqrs';
import { type Run } from '../../entities/run.entity';

export class ListRunsQuery extends Query<{ items: Run[]; nextCursor: string | null }> {
  constructor(
    readonly sessionId: string,
    readonly ownerId: string,
    readonly limit: number,
    readonly cursor?: string,
  ) {
    super();
  }
}
