import type { SessionMode } from '../../entities/chat-session.entity';
import { Command } from '@nestjs/cqrs';
import { type ChatSession } from '../../entities/chat-session.entity';

export class CreateSessionCommand extends Command<ChatSession> {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
    readonly title: string | undefined,
    readonly agent: string | undefined,
    readonly mode: SessionMode = 'direct',
  ) {
    super();
  }
}
