import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { agentNotFound } from '../../agent-not-found';
import { Agent } from '../../entities/agent.entity';
import { GetOwnedAgentQuery } from './get-owned-agent.query';

@QueryHandler(GetOwnedAgentQuery)
export class GetOwnedAgentHandler implements IQueryHandler<GetOwnedAgentQuery> {
  constructor(
    private readonly em: EntityManager,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ projectId, agentId, ownerId }: GetOwnedAgentQuery): Promise<Agent> {
    const agent = await this.em.findOne(Agent, { id: agentId, project: projectId, ownerId });
    if (!agent) throw agentNotFound(this.denials);
    return agent;
  }
}
