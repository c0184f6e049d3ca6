import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { ChatSession } from '../../entities/chat-session.entity';
import { notFound } from '../../sessions.errors';
import { UpdateSessionCommand } from './update-session.command';

@CommandHandler(UpdateSessionCommand)
export class UpdateSessionHandler implements ICommandHandler<UpdateSessionCommand> {
  constructor(
    private readonly em: EntityManager,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({
    projectId,
    sessionId,
    ownerId,
    title,
  }: UpdateSessionCommand): Promise<ChatSession> {
    const session = await this.em.findOne(ChatSession, {
      id: sessionId,
      project: projectId,
      ownerId,
    });
    if (!session) throw notFound(this.denials, 'session');
    session.title = title;
    await this.em.flush();
    return session;
  }
}
