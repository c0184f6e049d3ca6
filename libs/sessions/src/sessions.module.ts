import { Module } from '@nestjs/common';
import { AgentsModule } from '@codelab/agents';
import { ProjectsModule } from '@codelab/projects';
import { RunsModule } from '@codelab/runs';
import { StreamingModule } from '@codelab/streaming';
import { ArchiveSessionHandler } from './commands/archive-session/archive-session.handler';
import { CreateSessionHandler } from './commands/create-session/create-session.handler';
import { SendMessageHandler } from './commands/send-message/send-message.handler';
import { UpdateSessionHandler } from './commands/update-session/update-session.handler';
import { CurrentAgent } from './current-agent/current-agent';
import { MessageLog } from './messages/message-log';
import { GetOwnedSessionHandler } from './queries/get-owned-session/get-owned-session.handler';
import { ListMessagesHandler } from './queries/list-messages/list-messages.handler';
import { ListSessionsHandler } from './queries/list-sessions/list-sessions.handler';
import { sessionMetricProviders } from './sessions.metrics';

/** Sessions and messages: commands, queries, the message log (API and worker processes). */
@Module({
  imports: [ProjectsModule, AgentsModule, RunsModule, StreamingModule],
  providers: [
    CreateSessionHandler,
    UpdateSessionHandler,
    ArchiveSessionHandler,
    SendMessageHandler,
    GetOwnedSessionHandler,
    ListSessionsHandler,
    ListMessagesHandler,
    MessageLog,
    CurrentAgent,
    ...sessionMetricProviders,
  ],
  exports: [MessageLog, CurrentAgent, AgentsModule, RunsModule, ...sessionMetricProviders],
})
export class SessionsModule {}
