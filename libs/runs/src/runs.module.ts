import { BullModule } from '@nestjs/bullmq';
import { Module, type OnModuleInit } from '@nestjs/common';
import {
  APP_CONFIG,
  type AppConfig,
  bullmqConnection,
  bullmqPrefix,
  DomainEvents,
} from '@codelab/platform';
import { cancelChildrenHandler } from './events/cancel-children.handler';
import { resumeParentHandler } from './events/resume-parent.handler';
import { runCleanupHandlers } from './events/run-cleanup.handlers';
import { AgentActivityHandler } from './queries/agent-activity/agent-activity.handler';
import { CancelRunHandler } from './commands/cancel-run/cancel-run.handler';
import { ResumeRunHandler } from './commands/resume-run/resume-run.handler';
import { RunCancellation } from './execution/run-cancellation';
import { RunHandlers } from './execution/run-handler';
import { AGENT_RUNS_QUEUE, RunQueue } from './execution/run-queue';
import { RunLanes } from './lifecycle/run-lanes';
import { RunLifecycle } from './lifecycle/run-lifecycle';
import { GetRunHandler } from './queries/get-run/get-run.handler';
import { ListRunStepsHandler } from './queries/list-run-steps/list-run-steps.handler';
import { ListChildRunsHandler } from './queries/list-child-runs/list-child-runs.handler';
import { ListRunsHandler } from './queries/list-runs/list-runs.handler';
import { runMetricProviders } from './runs.metrics';

/**
 * The run engine's API for every process: the lifecycle (state machine, lanes, dispatch), the
 * queue producer, cancellation, the handler registry, queries. Execution lives in RunsWorkerModule.
 */
@Module({
  imports: [
    BullModule.registerQueueAsync({
      name: AGENT_RUNS_QUEUE,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        // The producer fails fast while Redis is down; the outbox covers the gap.
        connection: bullmqConnection(config, 'producer'),
        prefix: bullmqPrefix(config),
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
    RunQueue,
    RunCancellation,
    RunHandlers,
    RunLanes,
    RunLifecycle,
    CancelRunHandler,
    ResumeRunHandler,
    GetRunHandler,
    ListRunsHandler,
    ListRunStepsHandler,
    AgentActivityHandler,
    ListChildRunsHandler,
    ...runMetricProviders,
  ],
  exports: [RunQueue, RunCancellation, RunHandlers, RunLanes, RunLifecycle, ...runMetricProviders],
})
export class RunsModule implements OnModuleInit {
  constructor(
    private readonly domainEvents: DomainEvents,
    private readonly lifecycle: RunLifecycle,
    private readonly cancellation: RunCancellation,
  ) {}

  onModuleInit(): void {
    for (const handler of runCleanupHandlers(this.lifecycle, this.cancellation))
      this.domainEvents.register(handler);
    this.domainEvents.register(resumeParentHandler(this.lifecycle));
    this.domainEvents.register(cancelChildrenHandler(this.lifecycle, this.cancellation));
  }
}
