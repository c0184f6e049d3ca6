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
    /** What to do while a run of the conversation is active (default: enqueue). */
    readonly onBusy: 'enqueue' | 'reject' | 'interrupt' = 'enqueue',
  ) {
    super();
  }
}
