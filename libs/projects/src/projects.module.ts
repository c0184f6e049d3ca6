import { Module } from '@nestjs/common';
import { CreateProjectHandler } from './commands/create-project/create-project.handler';
import { DeleteProjectHandler } from './commands/delete-project/delete-project.handler';
import { UpdateProjectHandler } from './commands/update-project/update-project.handler';
import { ProjectAccessGuard } from './http/project-access.guard';
import { ProjectLifecycleHooks } from './project-lifecycle-hooks';
import { GetOwnedProjectHandler } from './queries/get-owned-project/get-owned-project.handler';
import { ListProjectsHandler } from './queries/list-projects/list-projects.handler';

const handlers = [
  CreateProjectHandler,
  UpdateProjectHandler,
  DeleteProjectHandler,
  GetOwnedProjectHandler,
  ListProjectsHandler,
];

/** Projects: commands, queries and the ownership guard; no HTTP (see ProjectsHttpModule). */
@Module({
  providers: [...handlers, ProjectAccessGuard, ProjectLifecycleHooks],
  exports: [ProjectAccessGuard, ProjectLifecycleHooks],
})
export class ProjectsModule {}
