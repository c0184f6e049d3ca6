import { Module } from '@nestjs/common';
import { SessionsWorkerModule } from '@codelab/sessions';
import { StreamingModule } from '@codelab/streaming';

/**
 * Background processing: the BullMQ processors (agent runs, orchestration steps, approval
 * timeouts, outbox relay) register here. Loaded by the worker process, and by the API process
 * when APP_ROLE=all. No HTTP controllers belong here.
 */
@Module({
  // Runs publish session events; StreamingModule appends them to Redis Streams.
  imports: [SessionsWorkerModule, StreamingModule],
})
export class WorkerModule {}
