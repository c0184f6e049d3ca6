import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { findKeysetPage, type KeysetPage } from '@codelab/platform';
import { AgentSwitch } from '../../entities/agent-switch.entity';
import { ListAgentSwitchesQuery } from './list-agent-switches.query';

@QueryHandler(ListAgentSwitchesQuery)
export class ListAgentSwitchesHandler implements IQueryHandler<ListAgentSwitchesQuery> {
  constructor(private readonly em: EntityManager) {}

  execute(q: ListAgentSwitchesQuery): Promise<KeysetPage<AgentSwitch>> {
    return findKeysetPage(
      this.em.fork(),
      AgentSwitch,
      { projectId: q.projectId, sessionId: q.sessionId, ownerId: q.ownerId },
      { limit: q.limit, cursor: q.cursor, direction: 'desc' },
    );
  }
}
