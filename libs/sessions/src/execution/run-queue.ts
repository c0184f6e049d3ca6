import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';

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

  constructor(@InjectQueue(AGENT_RUNS_QUEUE) private readonly queue: Queue<RunJobData>) {}

  /**
   * Adds the run's job; true when Redis took it. Never throws: a failed enqueue leaves the outbox
   * row in place and the relay retries it.
   */
  async enqueue(runId: string): Promise<boolean> {
    try {
      await withTimeout(this.queue.add(RUN_JOB, { runId }, { jobId: runId }), ENQUEUE_TIMEOUT_MS);
      return true;
    } catch (error) {
      this.logger.warn(
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

  async jobState(runId: string): Promise<string | null> {
    const job = await this.queue.getJob(runId);
    return job ? job.getState() : null;
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
