import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { ThrottledLog } from '@codelab/platform';

export const AGENT_RUNS_QUEUE = 'agent-runs';
export const RUN_JOB = 'run';

/** The one job type of the runs queue: one job per dispatch of a run. */
export interface RunJobData {
  runId: string;
  dispatch: number;
}

/** Job ids are `<run id>.<dispatch>`: adding the same dispatch twice is a no-op. */
export const runJobId = (runId: string, dispatch: number) => `${runId}.${dispatch}`;

const ENQUEUE_TIMEOUT_MS = 2_000;

/** Producer side of the runs queue. */
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
   * Adds the dispatch's job; true when Redis took it. Never throws: a failed enqueue leaves the
   * outbox row in place and the relay retries it.
   */
  async enqueue(runId: string, dispatch: number): Promise<boolean> {
    try {
      await withTimeout(
        this.queue.add(RUN_JOB, { runId, dispatch }, { jobId: runJobId(runId, dispatch) }),
        ENQUEUE_TIMEOUT_MS,
      );
      return true;
    } catch (error) {
      this.throttled.warn(
        'enqueue',
        `Could not enqueue run ${runId} (the relay will retry): ${(error as Error).message}`,
      );
      return false;
    }
  }

  /**
   * Moves a waiting (delayed) job to the front, when a slot it waits for has freed. False when
   * the job is not waiting any more (gone, running, finished): a stale waiter.
   */
  async promote(jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(jobId);
    if (!job || !(await job.isDelayed())) return false;
    await job.promote().catch(() => undefined);
    return true;
  }

  /** A dispatch's job as BullMQ sees it, or null when Redis has none. */
  async job(
    runId: string,
    dispatch: number,
  ): Promise<{ state: string; failedReason?: string } | null> {
    const job = await this.queue.getJob(runJobId(runId, dispatch));
    return job ? { state: await job.getState(), failedReason: job.failedReason } : null;
  }

  async remove(runId: string, dispatch: number): Promise<void> {
    await this.queue.remove(runJobId(runId, dispatch)).catch(() => undefined);
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
