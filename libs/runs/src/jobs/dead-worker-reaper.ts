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

/**
 * Every worker looks for dead ones at its own beat: the first to see a worker whose liveness lapsed
 * frees that worker's slots and promotes the runs waiting for them, so a crash costs its agents
 * the liveness TTL, not a lease TTL plus a polling delay.
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
      const freed = await this.slots.reapDeadWorkers();
      if (freed.length === 0) return;
      this.logger.warn(`Freed the slots of dead workers (agents: ${freed.length})`);
      for (const agentId of freed)
        await this.slots.wake(agentId, 4, (jobId) => this.queue.promote(jobId));
    } catch (error) {
      this.throttled.warn('reap', `Reaping dead workers failed: ${(error as Error).message}`);
    } finally {
      this.reaping = false;
    }
  }
}
