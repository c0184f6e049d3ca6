export {
  DEFAULT_PROJECT_SETTINGS,
  Project,
  type ProjectSettings,
  settingsOf,
} from './entities/project.entity';
export { ProjectsModule } from './projects.module';
export { ProjectsHttpModule } from './http/projects-http.module';
export { CurrentProject, ProjectAccessGuard } from './http/project-access.guard';
export { ProjectCreatedEvent } from './events/project-created.event';
export { CreateProjectCommand } from './commands/create-project/create-project.command';
export { GetOwnedProjectQuery } from './queries/get-owned-project/get-owned-project.query';
export { type ProjectCreationHook, ProjectLifecycleHooks } from './project-lifecycle-hooks';
export { PROJECT_DELETED, type ProjectDeletedPayload } from './events/project-deleted.event';
