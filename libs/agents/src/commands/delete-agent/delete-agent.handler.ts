import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { DomainEvents, ISOLATION_DENIALS } from '@codelab/platform';
import { agentNotFound } from '../../agent-not-found';
import { Agent } from '../../entities/agent.entity';
import { AGENT_DELETED, type AgentDeletedPayload } from '../../events/agent-events';
import { DeleteAgentCommand } from './delete-agent.command';

/**
 * Deletes the agent and records `agent.deleted` in the same transaction; its memory and its
 * active runs are cleaned up by the event's handlers, in a worker, with retries.
 */
@CommandHandler(DeleteAgentCommand)
export class DeleteAgentHandler implements ICommandHandler<DeleteAgentCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly domainEvents: DomainEvents,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ projectId, agentId, ownerId }: DeleteAgentCommand): Promise<void> {
    await this.em.fork().transactional(async (tx) => {
      const deleted = await tx.nativeDelete(Agent, { id: agentId, project: projectId, ownerId });
      if (deleted === 0) throw agentNotFound(this.denials);
      await this.domainEvents.record(tx, {
        type: AGENT_DELETED,
        aggregateType: 'agent',
        aggregateId: agentId,
        ownerId,
        payload: {
          agent_id: agentId,
          project_id: projectId,
          owner_id: ownerId,
        } satisfies AgentDeletedPayload,
      });
    });
  }
}
