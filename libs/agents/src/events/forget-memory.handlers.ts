import type { DomainEvent, DomainEventHandler } from '@codelab/platform';
import type { MemoryService } from '@codelab/memory';
import { PROJECT_DELETED, type ProjectDeletedPayload } from '@codelab/projects';
import { AGENT_DELETED, type AgentDeletedPayload } from './agent-events';

/**
 * Memory can live outside PostgreSQL (Qdrant), beyond the cascade: deleting an agent or a project
 * forgets its memories in a worker, retried until the store answers. Deletes are idempotent.
 */
export function forgetMemoryHandlers(memory: MemoryService): DomainEventHandler[] {
  return [
    {
      name: 'agents.forget-agent-memory',
      types: [AGENT_DELETED],
      async handle(event: DomainEvent) {
        const p = event.payload as unknown as AgentDeletedPayload;
        await memory.forgetAgent({ ownerId: p.owner_id, agentId: p.agent_id });
      },
    },
    {
      name: 'agents.forget-project-memory',
      types: [PROJECT_DELETED],
      async handle(event: DomainEvent) {
        const p = event.payload as unknown as ProjectDeletedPayload;
        await memory.forgetProject(p.owner_id, p.project_id);
      },
    },
  ];
}
