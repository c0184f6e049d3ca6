import { Module } from '@nestjs/common';
import { AuthModule } from '@codelab/auth';
import { ProjectsModule } from '@codelab/projects';
import { SessionsModule } from '@codelab/sessions';
import { SessionStreamHub } from '../session-stream-hub';
import { StreamingModule } from '../streaming.module';
import { SessionEventsController } from './session-events.controller';

/** The SSE endpoint and the process's shared stream reader; API processes only. */
@Module({
  imports: [StreamingModule, SessionsModule, ProjectsModule, AuthModule],
  controllers: [SessionEventsController],
  providers: [SessionStreamHub],
  exports: [SessionStreamHub],
})
export class StreamingHttpModule {}
