import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { ChatSession } from '../../entities/chat-session.entity';
import { notFound } from '../../sessions.errors';
import { ArchiveSessionCommand } from './archive-session.command';

@CommandHandler(ArchiveSessionCommand)
export class ArchiveSessionHandler implements ICommandHandler<ArchiveSessionCommand> {
  constructor(
    private readonly em: EntityManager,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ projectId, sessionId, ownerId }: ArchiveSessionCommand): Promise<void> {
    const session = await this.em.findOne(ChatSession, {
      id: sessionId,
      project: projectId,
      ownerId,
    });
    if (!session) throw notFound(this.denials, 'session');
    // Idempotent: archiving twice keeps the first time.
    session.archivedAt ??= new Date();
    await this.em.flush();
  }
}
