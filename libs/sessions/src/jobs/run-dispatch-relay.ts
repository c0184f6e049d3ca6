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
import { AdvisoryLeadership, APP_CONFIG, type AppConfig, ThrottledLog } from '@codelab/platform';
import { RunExecutor } from '../execution/run-executor';
import { RunQueue } from '../execution/run-queue';
import { RELAY_LEADER, RUN_QUEUE_DEPTH } from '../sessions.metrics';

// The advisory lock every worker competes for; one holds it and relays.
const RELAY_LOCK_KEY = 7_324_002;
// Job states in which BullMQ still owns the run (it re-delivers stalled active jobs itself).
const LIVE_JOB_STATES = ['waiting', 'delayed', 'active', 'prioritized', 'waiting-children'];

/**
 * Makes sure every accepted run reaches a final state, whatever happened to Redis or a worker.
 * Exactly one worker relays at a time (elected by a PostgreSQL advisory lock):
 * - outbox rows whose enqueue never happened (Redis down at POST time) are enqueued;
 * - a run whose job sits in the failed set (a dead letter whose failure could not be recorded,
 *   e.g. PostgreSQL was down) is marked failed — never re-queued;
 * - runs "running" whose heartbeat went stale, or queued for a minute, whose job is gone or
 *   finished, are re-queued (Redis lost its data; an execution ended without finishing the run).
 */
@Injectable()
export class RunDispatchRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RunDispatchRelay.name);
  private readonly throttled = new ThrottledLog(this.logger);
  private readonly leadership: AdvisoryLeadership;
  private timer?: NodeJS.Timeout;
  private ticking = false;

  constructor(
    private readonly em: EntityManager,
    private readonly queue: RunQueue,
    private readonly executor: RunExecutor,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(RUN_QUEUE_DEPTH) private readonly depth: Gauge<string>,
    @InjectMetric(RELAY_LEADER) private readonly leaderGauge: Gauge<string>,
  ) {
    this.leadership = new AdvisoryLeadership(config.databaseUrl, RELAY_LOCK_KEY, 'run-relay');
  }

  get isLeader(): boolean {
    return this.leadership.isLeader;
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), this.config.relayIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.leadership.release();
  }

  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const leader = await this.leadership.ensure();
      this.leaderGauge.set(leader ? 1 : 0);
      if (!leader) return;
      await this.relayOutbox();
      await this.reconcile();
      const counts = await this.queue.counts();
      for (const [state, value] of Object.entries(counts)) this.depth.set({ state }, value);
    } catch (error) {
      this.throttled.warn('tick', `Relay tick failed: ${(error as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }

  private async relayOutbox(): Promise<void> {
    const conn = this.em.fork().getConnection();
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
        return; // Redis is still down; try again next tick
      }
    }
  }

  private async reconcile(): Promise<void> {
    const conn = this.em.fork().getConnection();
    const staleSeconds = Math.ceil(this.config.runStaleAfterMs / 1000);
    const suspects = await conn.execute<{ id: string; status: string }[]>(
      `select id, status from runs
       where ((status = 'running' and heartbeat_at < now() - make_interval(secs => ?))
          or (status = 'queued' and created_at < now() - interval '60 seconds'))
         and not exists (select 1 from run_outbox o where o.run_id = runs.id)
       order by created_at limit 100`,
      [staleSeconds],
    );
    for (const run of suspects) {
      const job = await this.queue.job(run.id);
      if (job && LIVE_JOB_STATES.includes(job.state)) continue;
      if (job?.state === 'failed') {
        // A dead letter: its failure is final. Record it; re-queuing would undo the decision.
        this.logger.warn(`Recording dead-lettered run ${run.id} as failed: ${job.failedReason}`);
        await this.executor.failById(run.id, {
          code: 'INTERNAL',
          message: 'The run failed unexpectedly',
        });
        continue;
      }
      this.logger.warn(`Re-queuing run ${run.id} (${run.status}, job ${job?.state ?? 'missing'})`);
      if (job) await this.queue.remove(run.id);
      await conn.execute(`update runs set status = 'queued' where id = ? and status = 'running'`, [
        run.id,
      ]);
      await this.queue.enqueue(run.id);
    }
  }
}
