import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Gauge } from 'prom-client';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { RunQueue } from '../execution/run-queue';
import { RUN_QUEUE_DEPTH } from '../sessions.metrics';

/**
 * Makes sure every accepted run reaches a final state, whatever happened to Redis or a worker:
 * - outbox rows whose enqueue never happened (Redis down at POST time) are enqueued;
 * - runs "running" whose heartbeat went stale and whose job is gone are re-queued;
 * - queued runs older than a minute with no job at all (Redis lost its data) are re-enqueued.
 * Every step is idempotent (the job id is the run id), so every worker can run it.
 */
@Injectable()
export class RunDispatchRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RunDispatchRelay.name);
  private timer?: NodeJS.Timeout;
  private ticking = false;

  constructor(
    private readonly em: EntityManager,
    private readonly queue: RunQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(RUN_QUEUE_DEPTH) private readonly depth: Gauge<string>,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), this.config.relayIntervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const em = this.em.fork();
      const conn = em.getConnection();
      const pending = await conn.execute<{ run_id: string }[]>(
        `select run_id from run_outbox where created_at < now() - interval '1 second' order by created_at limit 200`,
      );
      for (const { run_id: runId } of pending) {
        if (await this.queue.enqueue(runId)) {
          await conn.execute('delete from run_outbox where run_id = ?', [runId]);
        } else {
          await conn.execute('update run_outbox set attempts = attempts + 1 where run_id = ?', [
            runId,
          ]);
          break; // Redis is still down; try again next tick
        }
      }

      const staleSeconds = Math.ceil(this.config.runStaleAfterMs / 1000);
      const suspects = await conn.execute<{ id: string; status: string }[]>(
        `select id, status from runs
         where (status = 'running' and heartbeat_at < now() - make_interval(secs => ?))
            or (status = 'queued' and created_at < now() - interval '60 seconds')
         order by created_at limit 100`,
        [staleSeconds],
      );
      for (const run of suspects) {
        const state = await this.queue.jobState(run.id);
        // Waiting, delayed or active jobs are fine (BullMQ re-delivers stalled active jobs itself).
        if (state && !['completed', 'failed', 'unknown'].includes(state)) continue;
        if (
          await conn
            .execute(`select 1 from run_outbox where run_id = ?`, [run.id])
            .then((r) => r.length > 0)
        )
          continue;
        this.logger.warn(`Re-queuing run ${run.id} (${run.status}, job ${state ?? 'missing'})`);
        if (state) await this.queue.remove(run.id);
        await conn.execute(
          `update runs set status = 'queued' where id = ? and status = 'running'`,
          [run.id],
        );
        await this.queue.enqueue(run.id);
      }

      const counts = await this.queue.counts();
      for (const [state, value] of Object.entries(counts)) this.depth.set({ state }, value);
    } catch (error) {
      this.logger.warn(`Relay tick failed: ${(error as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }
}
