export {
  Run,
  RunKind,
  RunMode,
  RunStatus,
  FINAL_RUN_STATUSES,
  PARKED_RUN_STATUSES,
  ACTIVE_RUN_STATUSES,
} from './entities/run.entity';
export type { RunError, RunState, RunUsage, RunWarning } from './entities/run.entity';
export {
  RunStep,
  StepEffect,
  StepKind,
  StepStatus,
  FINISHED_STEP_STATUSES,
} from './entities/run-step.entity';
export { RunDispatch } from './entities/run-dispatch.entity';
export {
  RunDto,
  RunDetailDto,
  RunPageDto,
  RunStepDto,
  RunStepPageDto,
  RunWarningDto,
  StepPageQueryDto,
} from './dto/run.dto';
export { toRunDto, toRunStepDto } from './dto/run.mappers';
export { RunsModule } from './runs.module';
export { RunsWorkerModule } from './runs-worker.module';
export { RunLifecycle, type Transitioned } from './lifecycle/run-lifecycle';
export { RunLanes, type Dispatch, type NewRun, type SpawnedRun } from './lifecycle/run-lanes';
export { RUN_TRANSITIONS, canTransition } from './lifecycle/run-transitions';
export {
  type Preparation,
  type RunContext,
  type RunHandler,
  RunHandlers,
  type RunLease,
  type RunOutcome,
  RunYieldSignal,
} from './execution/run-handler';
export { RunLeaseLostError } from './execution/run-lease';
export {
  StepJournal,
  argsDigest,
  boundResult,
  type StepStart,
  type StepFinish,
  type FencedTx,
} from './execution/step-journal';
export { RunSlots } from './execution/run-slots';
export { RunCancellation } from './execution/run-cancellation';
export { RunDispatchRelay } from './jobs/run-dispatch-relay';
export { AGENT_RUNS_QUEUE } from './execution/run-queue';
export { RUN_QUEUE_DEPTH, RELAY_LEADER } from './runs.metrics';
export { RunExecutor } from './execution/run-executor';
export { CancelRunCommand } from './commands/cancel-run/cancel-run.command';
export { ResumeRunCommand, type StepResolution } from './commands/resume-run/resume-run.command';
export { GetRunQuery } from './queries/get-run/get-run.query';
export { ListRunsQuery } from './queries/list-runs/list-runs.query';
export { ListRunStepsQuery } from './queries/list-run-steps/list-run-steps.query';
export { ListChildRunsQuery } from './queries/list-child-runs/list-child-runs.query';
export { GetRunPlanQuery } from './queries/get-run-plan/get-run-plan.query';
export { RunAlreadyFinishedError } from './runs.errors';
