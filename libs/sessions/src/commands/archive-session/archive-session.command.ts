import { Command } from '@nestjs/cqrs';

/** DELETE on a session archives it: history stays readable, new messages are refused. */
export class ArchiveSessionCommand extends Command<void> {
  constructor(
    readonly projectId: string,
    readonly sessionId: string,
    readonly ownerId: string,
  ) {
    super();
  }
}
