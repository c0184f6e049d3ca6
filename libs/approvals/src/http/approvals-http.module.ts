import { Module } from '@nestjs/common';
import { ProjectsModule } from '@codelab/projects';
import { ApprovalsModule } from '../approvals.module';
import { ApprovalsController } from './approvals.controller';

/** The REST surface of approvals; only the API process loads it. */
@Module({
  imports: [ApprovalsModule, ProjectsModule],
  controllers: [ApprovalsController],
})
export class ApprovalsHttpModule {}
