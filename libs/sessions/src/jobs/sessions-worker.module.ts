import { Module } from '@nestjs/common';
import { LlmModule } from '@codelab/llm';
import { MemoryModule } from '@codelab/memory';
import { PromptBuilder } from '../execution/prompt-builder';
import { RunExecutor } from '../execution/run-executor';
import { RunSlots } from '../execution/run-slots';
import { WorkerLiveness } from '../execution/worker-liveness';
import { SessionsModule } from '../sessions.module';
import { DeadWorkerReaper } from './dead-worker-reaper';
import { RunAgentProcessor } from './run-agent.processor';
import { RunDispatchRelay } from './run-dispatch-relay';

/** Run execution: the agent-runs processor, its limiter, and the relay. Worker processes only. */
@Module({
  imports: [SessionsModule, LlmModule, MemoryModule],
  providers: [
    RunAgentProcessor,
    RunExecutor,
    RunSlots,
    WorkerLiveness,
    PromptBuilder,
    RunDispatchRelay,
    DeadWorkerReaper,
  ],
})
export class SessionsWorkerModule {}
