import { Module } from '@nestjs/common';
import { RunExecutor } from './execution/run-executor';
import { RunSlots } from './execution/run-slots';
import { WorkerLiveness } from './execution/worker-liveness';
import { DeadWorkerReaper } from './jobs/dead-worker-reaper';
import { RunDispatchRelay } from './jobs/run-dispatch-relay';
import { RunProcessor } from './jobs/run.processor';
import { RunsModule } from './runs.module';

/** Run execution: the processor, the engine, slots and liveness, the reaper and the relay. */
@Module({
  imports: [RunsModule],
  providers: [
    RunProcessor,
    RunExecutor,
    RunSlots,
    WorkerLiveness,
    RunDispatchRelay,
    DeadWorkerReaper,
  ],
  exports: [RunsModule],
})
export class RunsWorkerModule {}
