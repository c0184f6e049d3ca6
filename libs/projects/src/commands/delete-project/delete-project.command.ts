import { Command } from '@nestjs/cqrs';

export class DeleteProjectCommand extends Command<void> {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
  ) {
    super();
  }
}
