import { Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import { type Project } from './entities/project.entity';

/** Runs inside the transaction that creates the project: a failure rolls the project back. */
export type ProjectCreationHook = (tx: EntityManager, project: Project) => Promise<void>;

/** Runs after the project row is gone, to clean up what lives outside PostgreSQL's cascade. */
export type ProjectDeletionHook = (ownerId: string, projectId: string) => Promise<void>;

/**
 * Lets features that build on projects (the agents' starter pack, agent memory) take part in a
 * project's creation and deletion without projects depending on them. Hooks register at module
 * init.
 */
@Injectable()
export class ProjectLifecycleHooks {
  private readonly logger = new Logger(ProjectLifecycleHooks.name);
  private readonly creation: ProjectCreationHook[] = [];
  private readonly deletion: ProjectDeletionHook[] = [];

  onCreate(hook: ProjectCreationHook): void {
    this.creation.push(hook);
  }

  onDeleted(hook: ProjectDeletionHook): void {
    this.deletion.push(hook);
  }

  async runCreate(tx: EntityManager, project: Project): Promise<void> {
    for (const hook of this.creation) await hook(tx, project);
  }

  /** Every hook runs even if one fails; failures are logged, the deletion stands. */
  async runDeleted(ownerId: string, projectId: string): Promise<void> {
    for (const hook of this.deletion) {
      await hook(ownerId, projectId).catch((error: Error) =>
        this.logger.error({ err: error, project_id: projectId }, 'Project clean-up hook failed'),
      );
    }
  }
}
