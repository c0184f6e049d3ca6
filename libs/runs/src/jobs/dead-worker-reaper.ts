import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ThrottledLog } from '@codelab/platform';
import { RunQueue } from '../execution/run-queue';
import { RunSlots } from '../execution/run-slots';
import { WorkerLiveness } from '../execution/worker-liveness';
import { RunLifecycle } from '../lifecycle/run-lifecycle';

/**
 * Every worker looks for dead ones at its own beat: the first to see a worker whose liveness lapsed
 * frees that worker's slots, re-dispatches the runs it was executing and promotes the runs waiting
 * for its slots, so a crash costs its runs and agents the liveness TTL, not a job lock or a lease
 * TTL plus a polling delay.
 */
@Injectable()
export class DeadWorkerReaper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DeadWorkerReaper.name);
  private readonly throttled = new ThrottledLog(this.logger);
  private timer?: NodeJS.Timeout;
  private reaping = false;

  constructor(
    private readonly slots: RunSlots,
    private readonly queue: RunQueue,
    private readonly liveness: WorkerLiveness,
    private readonly lifecycle: RunLifecycle,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.reap(), this.liveness.beatIntervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async reap(): Promise<void> {
    if (this.reaping) return;
    this.reaping = true;
    try {
      const { agents, abandoned } = await this.slots.reapDeadWorkers();
      if (agents.length === 0) return;
      this.logger.warn(`Freed the slots of dead workers (agents: ${agents.length})`);
      // What they were running starts again at once (from its journal) on a live worker.
      for (const a of abandoned)
        await this.lifecycle.redispatchAbandoned(a.runId, a.dispatch, a.workerId);
      for (const agentId of agents)
        await this.slots.wake(agentId, 4, (jobId) => this.queue.promote(jobId));
    } catch (error) {
      this.throttled.warn('reap', `Reaping dead workers failed: ${(error as Error).message}`);
    } finally {
      this.reaping = false;
    }
  }
}
