import { Command } from '@nestjs/cqrs';
import { type Run } from '../../entities/run.entity';

export class CancelRunCommand extends Command<Run> {
  constructor(
    readonly sessionId: string,
    readonly runId: string,
    readonly ownerId: string,
    readonly reason = 'user',
  ) {
    super();
  }
}
