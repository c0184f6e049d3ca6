import { Command } from '@nestjs/cqrs';
import { type SendMessageResponseDto } from '../../dto/session.dto';

export class SendMessageCommand extends Command<SendMessageResponseDto> {
  constructor(
    readonly projectId: string,
    readonly sessionId: string,
    readonly ownerId: string,
    readonly content: string,
    readonly targetAgent: string | undefined,
    readonly idempotencyKey: string | undefined,
  ) {
    super();
  }
}
