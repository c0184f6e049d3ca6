import { Module } from '@nestjs/common';
import { LlmModule } from '@codelab/llm';

/**
 * Background processing: the BullMQ processors (agent runs, orchestration steps, approval
 * timeouts, outbox relay) register here. Loaded by the worker process, and by the API process
 * when APP_ROLE=all. No HTTP controllers belong here.
 */
@Module({
  // The model layer runs where the agents run.
  imports: [LlmModule],
})
export class WorkerModule {}
