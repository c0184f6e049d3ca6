import { Module, type OnModuleInit } from '@nestjs/common';
import { MemoryModule, MemoryService } from '@codelab/memory';
import { ProjectLifecycleHooks, ProjectsModule } from '@codelab/projects';
import { AgentFactory } from './agent-factory';
import { CreateAgentHandler } from './commands/create-agent/create-agent.handler';
import { DeleteAgentHandler } from './commands/delete-agent/delete-agent.handler';
import { SetAgentStatusHandler } from './commands/set-agent-status/set-agent-status.handler';
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
    SetAgentStatusHandler,
  ],
  exports: [MemoryModule],
})
export class AgentsModule implements OnModuleInit {
  constructor(
    private readonly hooks: ProjectLifecycleHooks,
    private readonly factory: AgentFactory,
    private readonly memory: MemoryService,
  ) {}

  onModuleInit(): void {
    // The starter pack is part of creating a project: same transaction, all or nothing.
    this.hooks.onCreate(async (tx, project) => {
      const ownerId = project.owner.id;
      const createdAt = Date.now();
      STARTER_PACK.forEach(({ name, role }, i) => {
        const agent = this.factory.build(tx, project.id, ownerId, { name, role });
        // Distinct timestamps keep the pack's order stable in the created_at-ordered list.
        agent.createdAt = agent.updatedAt = new Date(createdAt + i);
        tx.persist(agent);
      });
      await tx.flush();
    });
    // Agents go with their project by cascade; their memory may live outside PostgreSQL.
    this.hooks.onDeleted((ownerId, projectId) =>
      this.memory.forgetProject(ownerId, projectId).then(() => undefined),
    );
  }
}
