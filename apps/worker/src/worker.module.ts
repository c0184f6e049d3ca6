import { Module } from '@nestjs/common';
import { DomainEventsWorkerModule } from '@codelab/platform';
import { AgentRuntimeModule } from '@codelab/agent-runtime';
import { RunsWorkerModule } from '@codelab/runs';
import { SessionsWorkerModule } from '@codelab/sessions';
import { StreamingModule } from '@codelab/streaming';
import { WorkspaceModule } from '@codelab/workspace';
import { ApprovalsWorkerModule } from '@codelab/approvals';
import { HandoffsModule } from '@codelab/handoffs';
import { OrchestrationModule } from '@codelab/orchestration';

/**
 * Background processing: the run engine with its handlers (agent runs; orchestration later),
 * domain-event handlers and sagas, the relays and clean-up jobs. Loaded by the worker process, and
 * by the API process when APP_ROLE=all. No HTTP controllers belong here.
 */
@Module({
  imports: [
    RunsWorkerModule,
    AgentRuntimeModule,
    SessionsWorkerModule,
    DomainEventsWorkerModule,
    // Removes a deleted project's files (domain event handler).
    WorkspaceModule,
    // Approval deadlines and the sweeper.
    ApprovalsWorkerModule,
    // The agent switch saga.
    HandoffsModule,
    // Orchestration runs and the plan scheduler.
    OrchestrationModule,
    // Runs publish session events; StreamingModule appends them to Redis Streams.
    StreamingModule,
  ],
})
export class WorkerModule {}
