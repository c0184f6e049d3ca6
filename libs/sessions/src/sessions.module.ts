import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig, bullmqConnection } from '@codelab/platform';
import { AgentsModule } from '@codelab/agents';
import { ProjectsModule } from '@codelab/projects';
import { ArchiveSessionHandler } from './commands/archive-session/archive-session.handler';
import { CancelRunHandler } from './commands/cancel-run/cancel-run.handler';
import { CreateSessionHandler } from './commands/create-session/create-session.handler';
import { SendMessageHandler } from './commands/send-message/send-message.handler';
import { UpdateSessionHandler } from './commands/update-session/update-session.handler';
import { RunCancellation } from './execution/run-cancellation';
import { AGENT_RUNS_QUEUE, RunQueue } from './execution/run-queue';
import { GetOwnedSessionHandler } from './queries/get-owned-session/get-owned-session.handler';
import { GetRunHandler } from './queries/get-run/get-run.handler';
import { ListMessagesHandler } from './queries/list-messages/list-messages.handler';
import { ListRunsHandler } from './queries/list-runs/list-runs.handler';
import { ListSessionsHandler } from './queries/list-sessions/list-sessions.handler';
import { sessionMetricProviders } from './sessions.metrics';

/** Sessions, messages and runs: commands, queries and the queue producer (API and worker). */
@Module({
  imports: [
    ProjectsModule,
    AgentsModule,
    BullModule.registerQueueAsync({
      name: AGENT_RUNS_QUEUE,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        // The producer fails fast while Redis is down; the outbox covers the gap.
        connection: bullmqConnection(config, 'producer'),
        prefix: `${config.redisKeyPrefix}bull`,
        defaultJobOptions: {
          attempts: 3,
          backoff: { type: 'exponential', delay: 1_000 },
          removeOnComplete: { age: 3_600, count: 10_000 },
          // Failed jobs are the dead letters: kept for a week.
          removeOnFail: { age: 7 * 24 * 3_600 },
        },
      }),
    }),
  ],
  providers: [
    CreateSessionHandler,
    UpdateSessionHandler,
    ArchiveSessionHandler,
    SendMessageHandler,
    CancelRunHandler,
    GetOwnedSessionHandler,
    ListSessionsHandler,
    ListMessagesHandler,
    ListRunsHandler,
    GetRunHandler,
    RunQueue,
    RunCancellation,
    ...sessionMetricProviders,
  ],
  exports: [RunQueue, RunCancellation, AgentsModule, ...sessionMetricProviders],
})
export class SessionsModule {}
