import { Module } from '@nestjs/common';
import { ProjectsModule } from '@codelab/projects';
import { WorkspaceModule } from '../workspace.module';
import { WorkspaceController } from './workspace.controller';

/** The REST surface of project workspaces; only the API process loads it. */
@Module({
  imports: [WorkspaceModule, ProjectsModule],
  controllers: [WorkspaceController],
})
export class WorkspaceHttpModule {}
