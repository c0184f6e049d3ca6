import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { ThrottledLog } from '@codelab/platform';

export const AGENT_RUNS_QUEUE = 'agent-runs';
export const RUN_JOB = 'run';

/** The one job type of the agent-runs queue; the job id IS the run id (idempotent adds). */
export interface RunJobData {
  runId: string;
}

const ENQUEUE_TIMEOUT_MS = 2_000;

/** Producer side of the agent-runs queue. */
@Injectable()
export class RunQueue {
  private readonly logger = new Logger(RunQueue.name);

  private readonly throttled = new ThrottledLog(this.logger);

  constructor(@InjectQueue(AGENT_RUNS_QUEUE) private readonly queue: Queue<RunJobData>) {
    // Without a listener every connection error would go to stderr, unthrottled.
    queue.on('error', (error) =>
      this.throttled.warn('queue', `Run queue (producer): ${error.message}`),
    );
  }

  /**
   * Adds the run's job; true when Redis took it. Never throws: a failed enqueue leaves the outbox
   * row in place and the relay retries it.
   */
  async enqueue(runId: string): Promise<boolean> {
    try {
      await withTimeout(this.queue.add(RUN_JOB, { runId }, { jobId: runId }), ENQUEUE_TIMEOUT_MS);
      return true;
    } catch (error) {
      this.throttled.warn(
        'enqueue',
        `Could not enqueue run ${runId} (the relay will retry): ${(error as Error).message}`,
      );
      return false;
    }
  }

  /** Moves a waiting (delayed) run job to the front, when a slot it waits for has freed. */
  async promote(runId: string): Promise<void> {
    const job = await this.queue.getJob(runId);
    if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
  }

  /** The run's job as BullMQ sees it, or null when Redis has none. */
  async job(runId: string): Promise<{ state: string; failedReason?: string } | null> {
    const job = await this.queue.getJob(runId);
    return job ? { state: await job.getState(), failedReason: job.failedReason } : null;
  }

  async remove(runId: string): Promise<void> {
    await this.queue.remove(runId).catch(() => undefined);
  }

  counts() {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
