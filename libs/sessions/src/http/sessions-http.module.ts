import { Module } from '@nestjs/common';
import { ProjectsModule } from '@codelab/projects';
import { SessionsModule } from '../sessions.module';
import { SessionsController } from './sessions.controller';

/** The REST surface of sessions, messages and runs; only the API process loads it. */
@Module({
  imports: [SessionsModule, ProjectsModule],
  controllers: [SessionsController],
})
export class SessionsHttpModule {}
