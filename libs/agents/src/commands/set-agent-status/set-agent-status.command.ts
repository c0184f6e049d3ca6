import { Command } from '@nestjs/cqrs';
import { type AgentStatus } from '../../entities/agent.entity';

/** Sent by the execution layer: busy while the agent has running runs, ready otherwise. */
export class SetAgentStatusCommand extends Command<void> {
  constructor(
    readonly agentId: string,
    readonly ownerId: string,
    readonly status: AgentStatus,
  ) {
    super();
  }
}
