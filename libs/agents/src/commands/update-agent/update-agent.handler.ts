import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { AgentNameTakenError } from '../../agent.errors';
import { agentNotFound } from '../../agent-not-found';
import { Agent } from '../../entities/agent.entity';
import { UpdateAgentCommand } from './update-agent.command';

@CommandHandler(UpdateAgentCommand)
export class UpdateAgentHandler implements ICommandHandler<UpdateAgentCommand> {
  constructor(
    private readonly em: EntityManager,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ projectId, agentId, ownerId, changes }: UpdateAgentCommand): Promise<Agent> {
    const agent = await this.em.findOne(Agent, { id: agentId, project: projectId, ownerId });
    if (!agent) throw agentNotFound(this.denials);
    // Only defined fields change; the DTO already refused nulls and unknown fields.
    const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    this.em.assign(agent, defined);
    try {
      await this.em.flush();
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException)
        throw new AgentNameTakenError(changes.name ?? agent.name);
      throw error;
    }
    return agent;
  }
}
