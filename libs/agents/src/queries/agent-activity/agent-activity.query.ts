import { Query } from '@nestjs/cqrs';

/**
 * How many runs of each agent are executing right now (agent id -> count; absent = 0). Asked by
 * the agents feature, answered by the run engine, which owns what is running: an agent's status
 * is derived from it, never stored.
 */
export class AgentActivityQuery extends Query<Record<string, number>> {
  constructor(readonly agentIds: readonly string[]) {
    super();
  }
}
