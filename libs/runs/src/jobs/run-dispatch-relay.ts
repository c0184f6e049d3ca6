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
import { APP_CONFIG, type AppConfig, RelayLeadership, ThrottledLog } from '@codelab/platform';
import { RunStatus } from '../entities/run.entity';
import { RunExecutor } from '../execution/run-executor';
import { RunQueue } from '../execution/run-queue';
import { isLaneHeadSql, RunLanes } from '../lifecycle/run-lanes';
import { RunLifecycle } from '../lifecycle/run-lifecycle';
import { RELAY_LEADER, RUN_QUEUE_DEPTH } from '../runs.metrics';

// Job states in which BullMQ still owns the dispatch (it re-delivers stalled active jobs itself).
const LIVE_JOB_STATES = ['waiting', 'delayed', 'active', 'prioritized', 'waiting-children'];

/**
 * Makes sure every runnable run reaches the queue, whatever happened to Redis or a worker. Exactly
 * one worker relays at a time (the elected relay, a PostgreSQL advisory lock):
 * - outbox rows whose enqueue never happened (Redis down at the time) are enqueued;
 * - a lane head whose job sits in the failed set (a dead letter whose failure could not be
 *   recorded, e.g. PostgreSQL was down) is marked failed, never re-queued;
 * - a lane head "running" whose heartbeat went stale, or queued for a minute, whose job is gone or
 *   finished, is dispatched again (Redis lost its data; an execution ended without settling).
 */
@Injectable()
export class RunDispatchRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RunDispatchRelay.name);
  private readonly throttled = new ThrottledLog(this.logger);
  private timer?: NodeJS.Timeout;
  private ticking = false;

  constructor(
    private readonly em: EntityManager,
    private readonly queue: RunQueue,
    private readonly lanes: RunLanes,
    private readonly lifecycle: RunLifecycle,
    private readonly executor: RunExecutor,
    private readonly leadership: RelayLeadership,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(RUN_QUEUE_DEPTH) private readonly depth: Gauge<string>,
    @InjectMetric(RELAY_LEADER) private readonly leaderGauge: Gauge<string>,
  ) {}

  get isLeader(): boolean {
    return this.leadership.isLeader;
  }

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
      const leader = await this.leadership.ensure();
      this.leaderGauge.set(leader ? 1 : 0);
      if (!leader) return;
      await this.relayOutbox();
      await this.reconcile();
      await this.expireParked();
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
    const pending = await conn.execute<{ run_id: string; dispatch: number }[]>(
      `select run_id, dispatch from run_outbox where created_at < now() - interval '1 second'
       order by created_at limit 200`,
    );
    for (const { run_id: runId, dispatch } of pending) {
      if (await this.queue.enqueue(runId, dispatch)) {
        await conn.execute('delete from run_outbox where run_id = ? and dispatch = ?', [
          runId,
          dispatch,
        ]);
      } else {
        await conn.execute('update run_outbox set attempts = attempts + 1 where run_id = ?', [
          runId,
        ]);
        return; // Redis is still down; try again next tick
      }
    }
  }

  /**
   * A parked run nobody resumed within RUN_PARKED_TTL_SECONDS expires, so the runs queued behind
   * it in its lane go on (approvals bring their own, shorter deadlines).
   */
  private async expireParked(): Promise<void> {
    const stale = await this.em
      .fork()
      .getConnection()
      .execute<{ id: string }[]>(
        `select id from runs where status in ('awaiting_approval', 'awaiting_children')
         and parked_at < now() - make_interval(secs => ?) order by parked_at limit 100`,
        [this.config.runParkedTtlSeconds],
      );
    for (const { id } of stale)
      await this.lifecycle.apply(id, RunStatus.Expired, {
        from: [RunStatus.AwaitingApproval, RunStatus.AwaitingChildren],
        reason: 'parked_too_long',
        error: {
          code: 'PARK_EXPIRED',
          message: `Nothing resumed the run within ${this.config.runParkedTtlSeconds} s`,
        },
      });
  }

  private async reconcile(): Promise<void> {
    const em = this.em.fork();
    const staleSeconds = Math.ceil(this.config.runStaleAfterMs / 1000);
    // Only lane heads: the others are meant to have no job until their turn.
    const suspects = await em
      .getConnection()
      .execute<{ id: string; status: string; dispatches: number }[]>(
        `select r.id, r.status, r.dispatches from runs r
       where ((r.status = 'running' and r.heartbeat_at < now() - make_interval(secs => ?))
          or (r.status = 'queued' and not r.held and r.created_at < now() - interval '60 seconds'))
         and not exists (select 1 from run_outbox o where o.run_id = r.id)
         and ${isLaneHeadSql('r')}
       order by r.created_at limit 100`,
        [staleSeconds],
      );
    for (const run of suspects) {
      const job = run.dispatches > 0 ? await this.queue.job(run.id, run.dispatches) : null;
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
      this.logger.warn(
        `Dispatching run ${run.id} again (${run.status}, job ${job?.state ?? 'missing'})`,
      );
      const dispatch = await em.transactional(async (tx) => {
        // Still the same situation under the row lock? (A worker may have just claimed it.)
        const [row] = await tx
          .getConnection()
          .execute<{ status: string; dispatches: number }[]>(
            'select status, dispatches from runs where id = ? for update',
            [run.id],
            'all',
            tx.getTransactionContext(),
          );
        if (!row || row.dispatches !== run.dispatches || row.status !== run.status) return null;
        return this.lanes.dispatch(tx, run.id);
      });
      if (dispatch) await this.lifecycle.enqueue(dispatch);
    }
  }
}
