import { Command } from '@nestjs/cqrs';
import { type ChatSession } from '../../entities/chat-session.entity';

export class UpdateSessionCommand extends Command<ChatSession> {
  constructor(
    readonly projectId: string,
    readonly sessionId: string,
    readonly ownerId: string,
    readonly title: string,
  ) {
    super();
  }
}
