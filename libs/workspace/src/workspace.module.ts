import { Module, type OnModuleInit } from '@nestjs/common';
import { DomainEvents } from '@codelab/platform';
import { ProjectLifecycleHooks, ProjectsModule } from '@codelab/projects';
import { removeWorkspaceHandler } from './events/remove-workspace.handler';
import { WorkspaceFiles } from './files/workspace-files';
import { workspaceMetricProviders } from './workspace.metrics';

/** Project workspaces on disk (no HTTP: see WorkspaceHttpModule). */
@Module({
  imports: [ProjectsModule],
  providers: [WorkspaceFiles, ...workspaceMetricProviders],
  exports: [WorkspaceFiles],
})
export class WorkspaceModule implements OnModuleInit {
  constructor(
    private readonly files: WorkspaceFiles,
    private readonly domainEvents: DomainEvents,
    private readonly hooks: ProjectLifecycleHooks,
  ) {}

  onModuleInit(): void {
    // Created with the project (an empty directory left by a rolled-back creation is harmless:
    // nothing refers to it); every access also creates it when missing.
    this.hooks.onCreate(async (_tx, project) => {
      await this.files.dir(project.id);
    });
    this.domainEvents.register(removeWorkspaceHandler(this.files));
  }
}
