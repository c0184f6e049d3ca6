import { Module, type OnModuleInit } from '@nestjs/common';
import { MemoryModule, MemoryService } from '@codelab/memory';
import { DomainEvents } from '@codelab/platform';
import { ProjectLifecycleHooks, ProjectsModule } from '@codelab/projects';
import { forgetMemoryHandlers } from './events/forget-memory.handlers';
import { AgentFactory } from './agent-factory';
import { CreateAgentHandler } from './commands/create-agent/create-agent.handler';
import { DeleteAgentHandler } from './commands/delete-agent/delete-agent.handler';
import { UpdateAgentHandler } from './commands/update-agent/update-agent.handler';
import { FindProjectAgentHandler } from './queries/find-project-agent/find-project-agent.handler';
import { GetOwnedAgentHandler } from './queries/get-owned-agent/get-owned-agent.handler';
import { ListAgentsHandler } from './queries/list-agents/list-agents.handler';
import { STARTER_PACK } from './templates/role-templates';

/** Agents: commands, queries, templates, the tool policy; no HTTP (see AgentsHttpModule). */
@Module({
  imports: [ProjectsModule, MemoryModule],
  providers: [
    AgentFactory,
    CreateAgentHandler,
    UpdateAgentHandler,
    DeleteAgentHandler,
    GetOwnedAgentHandler,
    ListAgentsHandler,
    FindProjectAgentHandler,
  ],
  exports: [MemoryModule],
})
export class AgentsModule implements OnModuleInit {
  constructor(
    private readonly hooks: ProjectLifecycleHooks,
    private readonly factory: AgentFactory,
    private readonly memory: MemoryService,
    private readonly domainEvents: DomainEvents,
  ) {}

  onModuleInit(): void {
    // The starter pack is part of creating a project: same transaction, all or nothing.
    this.hooks.onCreate(async (tx, project) => {
      const ownerId = project.owner.id;
      // One by one: each row takes the database's clock_timestamp(), so the pack keeps its order.
      for (const { name, role } of STARTER_PACK) {
        tx.persist(this.factory.build(tx, project.id, ownerId, { name, role }));
        await tx.flush();
      }
    });
    // Agents go with their project by cascade; their memory may live outside PostgreSQL.
    for (const handler of forgetMemoryHandlers(this.memory)) this.domainEvents.register(handler);
  }
}
