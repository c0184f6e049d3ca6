import { Module, type OnModuleInit } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { AgentsModule } from '@codelab/agents';
import { DomainEvents } from '@codelab/platform';
import { RunLanes, RunLifecycle, RunsModule } from '@codelab/runs';
import { SessionsModule } from '@codelab/sessions';
import { StreamingModule } from '@codelab/streaming';
import { SwitchAgentHandler } from './commands/switch-agent/switch-agent.handler';
import { handoffMetricProviders } from './handoffs.metrics';
import { ListAgentSwitchesHandler } from './queries/list-agent-switches/list-agent-switches.handler';
import { agentSwitchSaga } from './sagas/agent-switch.saga';

/**
 * Agent switching and hand-offs: the switch command and history, and the switch saga (registered
 * in every process, run by workers). The tools that ask for them live in the agent runtime.
 */
@Module({
  imports: [AgentsModule, SessionsModule, RunsModule, StreamingModule],
  providers: [SwitchAgentHandler, ListAgentSwitchesHandler, ...handoffMetricProviders],
  exports: [...handoffMetricProviders],
})
export class HandoffsModule implements OnModuleInit {
  constructor(
    private readonly domainEvents: DomainEvents,
    private readonly em: EntityManager,
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    private readonly lanes: RunLanes,
    private readonly lifecycle: RunLifecycle,
  ) {}

  onModuleInit(): void {
    for (const handler of agentSwitchSaga(
      this.em,
      this.commands,
      this.queries,
      this.lanes,
      this.lifecycle,
    ))
      this.domainEvents.register(handler);
  }
}
