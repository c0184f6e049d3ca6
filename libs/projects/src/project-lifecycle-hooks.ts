import { Injectable } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import { type Project } from './entities/project.entity';

/** Runs inside the transaction that creates the project: a failure rolls the project back. */
export type ProjectCreationHook = (tx: EntityManager, project: Project) => Promise<void>;

/**
 * Lets features that build on projects (the agents' starter pack) take part in a project's
 * creation without projects depending on them. Hooks register at module init. (Deletion is a
 * durable domain event, `project.deleted`.)
 */
@Injectable()
export class ProjectLifecycleHooks {
  private readonly creation: ProjectCreationHook[] = [];

  onCreate(hook: ProjectCreationHook): void {
    this.creation.push(hook);
  }

  async runCreate(tx: EntityManager, project: Project): Promise<void> {
    for (const hook of this.creation) await hook(tx, project);
  }
}
