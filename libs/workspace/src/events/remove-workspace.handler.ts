import type { DomainEvent, DomainEventHandler } from '@codelab/platform';
import { PROJECT_DELETED, type ProjectDeletedPayload } from '@codelab/projects';
import type { WorkspaceFiles } from '../files/workspace-files';

/** A deleted project's files go in a worker, retried until done; removing is idempotent. */
export function removeWorkspaceHandler(files: WorkspaceFiles): DomainEventHandler {
  return {
    name: 'workspace.remove-project-files',
    types: [PROJECT_DELETED],
    async handle(event: DomainEvent) {
      await files.removeWorkspace((event.payload as unknown as ProjectDeletedPayload).project_id);
    },
  };
}
