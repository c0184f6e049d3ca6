import { randomUUID } from 'node:crypto';
import { type Opt, type Ref } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { User } from '@codelab/users';

/** What a project's owner decides for every agent working in it. */
export interface ProjectSettings {
  /** `run_command` may run at all (in the sandbox). Off by default. */
  commands_enabled: boolean;
  /** Every command waits for the user's approval, whatever the agent's policy says. */
  commands_need_approval: boolean;
  /** Globs (workspace-relative) agents may neither read nor change, beyond .git and .env*. */
  agent_denied_paths: string[];
  /** Tools whose calls wait for approval in this project, on top of each agent's policy. */
  approval_tools: string[];
  /** How long an approval waits for a decision before its default action applies. */
  approval_deadline_seconds: number;
  /** What a deadline decides, per kind of approval. */
  approval_default_actions: { tool: 'approve' | 'reject'; command: 'approve' | 'reject' };
  /** An orchestrator's plan waits for the user's approval (kind `plan`) before it runs. */
  require_plan_approval: boolean;
}

export const DEFAULT_PROJECT_SETTINGS: Readonly<ProjectSettings> = Object.freeze({
  commands_enabled: false,
  commands_need_approval: true,
  agent_denied_paths: [],
  approval_tools: [],
  approval_deadline_seconds: 300,
  approval_default_actions: { tool: 'reject' as const, command: 'reject' as const },
  require_plan_approval: false,
});

@Entity({ tableName: 'projects' })
// Serves the owner's newest-first keyset list without a sort.
@Index({
  name: 'projects_owner_created_idx',
  expression:
    'create index "projects_owner_created_idx" on "projects" ("owner_id", "created_at" desc, "id" desc)',
})
export class Project {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => User, ref: true, deleteRule: 'cascade' })
  owner!: Ref<User>;

  @Property({ type: 'string', length: 200 })
  name!: string;

  @Property({ type: 'text', nullable: true })
  description: string | null = null;

  /** Only what was set; read them through `settingsOf()` (defaults filled in). */
  @Property({ type: 'json', nullable: true })
  settings: Partial<ProjectSettings> | null = null;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;

  @Property({ type: 'datetime', defaultRaw: 'now()', onUpdate: () => new Date() })
  updatedAt: Opt<Date> = new Date();
}

export function settingsOf(project: Pick<Project, 'settings'>): ProjectSettings {
  return { ...DEFAULT_PROJECT_SETTINGS, ...(project.settings ?? {}) };
}

/** The settings after a change: only the keys given (and not undefined) change. */
export function withSettings(
  project: Pick<Project, 'settings'>,
  changes: Partial<ProjectSettings>,
): ProjectSettings {
  const given = Object.entries(changes).filter(([, v]) => v !== undefined);
  return { ...settingsOf(project), ...(Object.fromEntries(given) as Partial<ProjectSettings>) };
}
