import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { AgentActivityQuery } from '@codelab/agents';

/** Answers the agents feature: runs executing now, per agent. */
@QueryHandler(AgentActivityQuery)
export class AgentActivityHandler implements IQueryHandler<AgentActivityQuery> {
  constructor(private readonly em: EntityManager) {}

  async execute({ agentIds }: AgentActivityQuery): Promise<Record<string, number>> {
    if (agentIds.length === 0) return {};
    const rows = await this.em
      .getConnection()
      .execute<{ agent_id: string; n: number }[]>(
        `select agent_id, count(*)::int as n from runs where agent_id = any(?::uuid[]) and status = 'running' group by agent_id`,
        [`{${agentIds.join(',')}}`],
      );
    return Object.fromEntries(rows.map((r) => [r.agent_id, r.n]));
  }
}
