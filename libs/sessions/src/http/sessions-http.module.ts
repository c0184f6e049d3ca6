import { Module } from '@nestjs/common';
import { AuthModule } from '@codelab/auth';
import { ProjectsModule } from '@codelab/projects';
import { StreamReaderModule } from '@codelab/streaming';
import { SessionsModule } from '../sessions.module';
import { SessionEventsController } from './session-events.controller';
import { SessionsController } from './sessions.controller';

/** The REST surface of sessions, messages and runs, and the SSE stream; only API processes. */
@Module({
  imports: [SessionsModule, ProjectsModule, AuthModule, StreamReaderModule],
  controllers: [SessionsController, SessionEventsController],
})
export class SessionsHttpModule {}
