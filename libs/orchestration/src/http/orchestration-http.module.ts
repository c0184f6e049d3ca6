import { Module } from '@nestjs/common';
import { ProjectsModule } from '@codelab/projects';
import { OrchestrationModule } from '../orchestration.module';
import { PlansController } from './plans.controller';

/** The REST surface of plans; only the API process loads it. */
@Module({
  imports: [OrchestrationModule, ProjectsModule],
  controllers: [PlansController],
})
export class OrchestrationHttpModule {}
