import { Query } from '@nestjs/cqrs';
import type { KeysetPage } from '@codelab/platform';
import type { AgentSwitch } from '../../entities/agent-switch.entity';

/** A session's switches, newest first (the session's ownership is checked by the caller's guard and query). */
export class ListAgentSwitchesQuery extends Query<KeysetPage<AgentSwitch>> {
  constructor(
    readonly projectId: string,
    readonly sessionId: string,
    readonly ownerId: string,
    readonly limit: number,
    readonly cursor?: string,
  ) {
    super();
  }
}
