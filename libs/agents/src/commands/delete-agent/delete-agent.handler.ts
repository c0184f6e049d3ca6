import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { MemoryService } from '@codelab/memory';
import { agentNotFound } from '../../agent-not-found';
import { Agent } from '../../entities/agent.entity';
import { DeleteAgentCommand } from './delete-agent.command';

@CommandHandler(DeleteAgentCommand)
export class DeleteAgentHandler implements ICommandHandler<DeleteAgentCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly memory: MemoryService,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ projectId, agentId, ownerId }: DeleteAgentCommand): Promise<void> {
    const deleted = await this.em.nativeDelete(Agent, { id: agentId, project: projectId, ownerId });
    if (deleted === 0) throw agentNotFound(this.denials);
    // The agent row is gone first, so nothing new can be remembered for it; then its memory.
    await this.memory.forgetAgent({ ownerId, agentId });
  }
}
