import { CommandHandler, type ICommandHandler, QueryBus } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { FindProjectAgentQuery } from '@codelab/agents';
import { ChatSession } from '../../entities/chat-session.entity';
import { UnknownTargetAgentError } from '../../sessions.errors';
import { CreateSessionCommand } from './create-session.command';

@CommandHandler(CreateSessionCommand)
export class CreateSessionHandler implements ICommandHandler<CreateSessionCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly queries: QueryBus,
  ) {}

  async execute({
    projectId,
    ownerId,
    title,
    agent,
    mode,
  }: CreateSessionCommand): Promise<ChatSession> {
    const current = await this.queries.execute(
      new FindProjectAgentQuery(projectId, ownerId, agent),
    );
    if (agent !== undefined && !current) throw new UnknownTargetAgentError(agent);
    const session = this.em.create(ChatSession, {
      project: projectId,
      ownerId,
      title: title ?? 'New session',
      currentAgentId: current?.id ?? null,
      mode,
    });
    await this.em.persist(session).flush();
    return session;
  }
}
