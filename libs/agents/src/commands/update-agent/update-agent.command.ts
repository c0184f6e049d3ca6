import { Command } from '@nestjs/cqrs';
import { type AgentChanges } from '../../agent-defaults';
import { type Agent } from '../../entities/agent.entity';

export class UpdateAgentCommand extends Command<Agent> {
  constructor(
    readonly projectId: string,
    readonly agentId: string,
    readonly ownerId: string,
    readonly changes: AgentChanges,
  ) {
    super();
  }
}
