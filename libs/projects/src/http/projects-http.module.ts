import { Module } from '@nestjs/common';
import { ProjectsModule } from '../projects.module';
import { ProjectsController } from './projects.controller';

/** The REST surface of projects; only the API process loads it. */
@Module({
  imports: [ProjectsModule],
  controllers: [ProjectsController],
})
export class ProjectsHttpModule {}
