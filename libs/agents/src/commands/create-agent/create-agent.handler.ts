import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { AgentNameTakenError } from '../../agent.errors';
import { AgentFactory } from '../../agent-factory';
import { type Agent } from '../../entities/agent.entity';
import { CreateAgentCommand } from './create-agent.command';

@CommandHandler(CreateAgentCommand)
export class CreateAgentHandler implements ICommandHandler<CreateAgentCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly factory: AgentFactory,
  ) {}

  async execute({ projectId, ownerId, input }: CreateAgentCommand): Promise<Agent> {
    const agent = this.factory.build(this.em, projectId, ownerId, input);
    try {
      await this.em.persist(agent).flush();
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException)
        throw new AgentNameTakenError(input.name);
      throw error;
    }
    return agent;
  }
}
