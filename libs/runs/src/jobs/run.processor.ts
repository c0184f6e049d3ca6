import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Counter } from 'prom-client';
import {
  APP_CONFIG,
  type AppConfig,
  bullmqConnection,
  bullmqPrefix,
  isDatabaseUnavailable,
  isRedisUnavailable,
  ThrottledLog,
} from '@codelab/platform';
import { RunCancellation } from '../execution/run-cancellation';
import { RunExecutor } from '../execution/run-executor';
import { AGENT_RUNS_QUEUE, type RunJobData } from '../execution/run-queue';
import { WorkerLiveness } from '../execution/worker-liveness';
import { RUN_RETRIES, RUNS_DEAD_LETTERED } from '../runs.metrics';

interface RetryState {
  /** Slot waits so far (the wait backoff grows with it). */
  waits?: number;
  /** Consecutive retries because PostgreSQL was unreachable. */
  outages?: number;
}

type RunJob = Job<RunJobData & RetryState>;

// While PostgreSQL or Redis is down a run is retried forever, at most this far apart: it must resume
// within seconds of the database's return, and an outage is no reason to fail it.
const OUTAGE_RETRY_MAX_MS = 5_000;

/**
 * Consumes the runs queue on a BullMQ Worker of its own, configured as BullMQ documents for
 * consumers (a connection that waits for Redis rather than failing fast, an error listener). A run
 * that must wait for a slot, or whose database is down, is moved back to the delayed set (holding
 * no worker slot); a run that failed for good is thrown as unrecoverable so BullMQ keeps the job in
 * its failed set (the dead letters), visible also as the run's status.
 */
@Injectable()
export class RunProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RunProcessor.name);
  private readonly throttled = new ThrottledLog(this.logger);
  private worker?: Worker<RunJobData & RetryState>;

  constructor(
    private readonly executor: RunExecutor,
    private readonly cancellation: RunCancellation,
    private readonly liveness: WorkerLiveness,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(RUNS_DEAD_LETTERED) private readonly deadLettered: Counter<string>,
    @InjectMetric(RUN_RETRIES) private readonly retries: Counter<string>,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.cancellation.listen();
    await this.liveness.start();
    const lockMs = this.config.runJobLockMs;
    const worker = new Worker<RunJobData & RetryState>(
      AGENT_RUNS_QUEUE,
      (job, token) => this.process(job, token),
      {
        connection: bullmqConnection(this.config, 'consumer'),
        prefix: bullmqPrefix(this.config),
        concurrency: this.config.workerConcurrency,
        // A crashed worker's job is re-delivered once its lock lapses (BullMQ's stalled-job check).
        lockDuration: lockMs,
        stalledInterval: Math.max(500, Math.floor(lockMs / 2)),
        // A job whose worker died or hung this many times is a dead letter. Generous: locks are
        // short and a re-delivery is harmless (fencing); only a run that keeps killing its
        // workers should end there.
        maxStalledCount: this.config.runMaxStalls,
        autorun: false,
      },
    );
    worker.on('error', (error) =>
      this.throttled.warn(`worker:${error.message.slice(0, 60)}`, `Run worker: ${error.message}`),
    );
    worker.on('failed', (job, error) => void this.onFailed(job, error));
    this.worker = worker;
    // run() resolves when the worker closes; its own errors are reported through 'error'.
    void worker
      .run()
      .catch((error: Error) => this.logger.error(`Run worker stopped: ${error.message}`));
  }

  /** Hand back the runs in hand (at their next step) while PostgreSQL and Redis are still open. */
  async beforeApplicationShutdown(): Promise<void> {
    this.executor.drain();
    await this.worker?.close();
    await this.liveness.stop();
  }

  async process(job: RunJob, token?: string): Promise<void> {
    let outcome: Awaited<ReturnType<RunExecutor['execute']>>;
    try {
      outcome = await this.executor.execute(job.data.runId, job.data.dispatch, job.data.waits ?? 0);
    } catch (error) {
      const dependency = isDatabaseUnavailable(error)
        ? 'postgres'
        : isRedisUnavailable(error)
          ? 'redis'
          : null;
      if (!dependency) throw error;
      // Not the run's fault: try again when the dependency is back, without using up an attempt.
      const outages = (job.data.outages ?? 0) + 1;
      this.retries.inc({ dependency });
      this.throttled.warn(
        dependency,
        `${dependency === 'postgres' ? 'PostgreSQL' : 'Redis'} unavailable; run ${job.data.runId} will be retried: ${(error as Error).message}`,
      );
      const delayMs = Math.min(OUTAGE_RETRY_MAX_MS, 250 * 2 ** Math.min(outages, 5));
      return this.delay(job, { ...job.data, outages }, delayMs, token);
    }
    if (outcome.kind === 'wait') {
      return this.delay(
        job,
        { ...job.data, waits: (job.data.waits ?? 0) + 1, outages: 0 },
        outcome.delayMs,
        token,
      );
    }
    if (outcome.kind === 'dead_letter') throw new UnrecoverableError(outcome.reason);
  }

  private async delay(
    job: RunJob,
    data: RunJobData & RetryState,
    delayMs: number,
    token?: string,
  ): Promise<never> {
    try {
      await job.updateData(data);
      await job.moveToDelayed(Date.now() + Math.round(delayMs), token);
    } catch (error) {
      // The job's lock moved on (a newer delivery owns it): there is nothing left to hand back.
      this.throttled.warn(
        'delay',
        `Could not delay run job ${job.data.runId}: ${(error as Error).message}`,
      );
    }
    throw new DelayedError();
  }

  private async onFailed(job: RunJob | undefined, error: Error): Promise<void> {
    if (!job) return;
    const final =
      error instanceof UnrecoverableError ||
      error.name === 'UnrecoverableError' ||
      job.attemptsMade >= (job.opts.attempts ?? 1);
    if (!final) return;
    this.deadLettered.inc();
    this.logger.error(`Run ${job.data.runId} dead-lettered: ${error.message}`);
    // Unexpected errors exhausted their retries: the run must not stay "running" forever. If
    // PostgreSQL is down now, the relay records it later from the dead-letter set.
    await this.executor
      .failById(job.data.runId, { code: 'INTERNAL', message: 'The run failed unexpectedly' })
      .catch((failure: Error) =>
        this.throttled.warn(
          'fail',
          `Could not record the failure of run ${job.data.runId} (the relay will): ${failure.message}`,
        ),
      );
  }
}
