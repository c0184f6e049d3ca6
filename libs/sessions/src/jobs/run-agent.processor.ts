import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { Counter } from 'prom-client';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { RunCancellation } from '../execution/run-cancellation';
import { RunExecutor } from '../execution/run-executor';
import { AGENT_RUNS_QUEUE, type RunJobData } from '../execution/run-queue';
import { RUNS_DEAD_LETTERED } from '../sessions.metrics';

interface WaitState {
  waits?: number;
}

/**
 * Consumes the agent-runs queue. A run that must wait for a slot is moved back to the delayed set
 * (it holds no worker slot while it waits); a run that failed for good is thrown as unrecoverable
 * so BullMQ keeps the job in its failed set (the dead letters), visible also as the run's status.
 */
// Started in onApplicationBootstrap, once the configured options are applied.
@Processor(AGENT_RUNS_QUEUE, { autorun: false, maxStalledCount: 3 })
export class RunAgentProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(RunAgentProcessor.name);

  constructor(
    private readonly executor: RunExecutor,
    private readonly cancellation: RunCancellation,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(RUNS_DEAD_LETTERED) private readonly deadLettered: Counter<string>,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.cancellation.listen();
    // A crashed worker's job is re-delivered once its lock lapses (BullMQ's stalled-job check).
    this.worker.opts.lockDuration = this.config.runJobLockMs;
    this.worker.opts.stalledInterval = Math.max(500, Math.floor(this.config.runJobLockMs / 2));
    this.worker.concurrency = this.config.workerConcurrency;
    this.worker
      .run()
      .catch((error: Error) => this.logger.error(`Run worker stopped: ${error.message}`));
  }

  async process(job: Job<RunJobData & WaitState>, token?: string): Promise<void> {
    const outcome = await this.executor.execute(job.data.runId, job.data.waits ?? 0);
    if (outcome.kind === 'wait') {
      await job.updateData({ ...job.data, waits: (job.data.waits ?? 0) + 1 });
      await job.moveToDelayed(Date.now() + Math.round(outcome.delayMs), token);
      throw new DelayedError();
    }
    if (outcome.kind === 'dead_letter') throw new UnrecoverableError(outcome.reason);
  }

  @OnWorkerEvent('failed')
  async onFailed(job: Job<RunJobData> | undefined, error: Error): Promise<void> {
    if (!job) return;
    const final =
      error instanceof UnrecoverableError ||
      error.name === 'UnrecoverableError' ||
      job.attemptsMade >= (job.opts.attempts ?? 1);
    if (!final) return;
    this.deadLettered.inc();
    this.logger.error(`Run ${job.data.runId} dead-lettered: ${error.message}`);
    // Unexpected errors exhausted their retries: the run must not stay "running" forever.
    await this.executor
      .failById(job.data.runId, { code: 'INTERNAL', message: 'The run failed unexpectedly' })
      .catch(() => undefined);
  }
}
