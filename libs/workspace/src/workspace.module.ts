import { Module, type OnModuleInit } from '@nestjs/common';
import { DomainEvents } from '@codelab/platform';
import { removeWorkspaceHandler } from './events/remove-workspace.handler';
import { WorkspaceFiles } from './files/workspace-files';
import { workspaceMetricProviders } from './workspace.metrics';

/** Project workspaces on disk (no HTTP: see WorkspaceHttpModule). */
@Module({
  providers: [WorkspaceFiles, ...workspaceMetricProviders],
  exports: [WorkspaceFiles],
})
export class WorkspaceModule implements OnModuleInit {
  constructor(
    private readonly files: WorkspaceFiles,
    private readonly domainEvents: DomainEvents,
  ) {}

  onModuleInit(): void {
    this.domainEvents.register(removeWorkspaceHandler(this.files));
  }
}
