import { Command } from '@nestjs/cqrs';
import { type AgentInput } from '../../agent-defaults';
import { type Agent } from '../../entities/agent.entity';

/** The project is already known to belong to `ownerId` (ProjectAccessGuard). */
export class CreateAgentCommand extends Command<Agent> {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
    readonly input: AgentInput,
  ) {
    super();
  }
}
