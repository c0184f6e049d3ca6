import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { Agent } from '../../entities/agent.entity';
import { SetAgentStatusCommand } from './set-agent-status.command';

@CommandHandler(SetAgentStatusCommand)
export class SetAgentStatusHandler implements ICommandHandler<SetAgentStatusCommand> {
  constructor(private readonly em: EntityManager) {}

  async execute({ agentId, ownerId, status }: SetAgentStatusCommand): Promise<void> {
    // A deleted agent simply matches nothing.
    await this.em.nativeUpdate(Agent, { id: agentId, ownerId }, { status });
  }
}
