import { Injectable, Logger } from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';
import { DomainEvents } from '@codelab/platform';
import { SessionEvent } from '@codelab/streaming';
import { toRunDto } from '../dto/run.mappers';
import {
  ACTIVE_RUN_STATUSES_SQL,
  FINAL_RUN_STATUSES,
  PARKED_RUN_STATUSES,
  Run,
  type RunError,
  type RunState,
  RunStatus,
  type RunUsage,
} from '../entities/run.entity';
import { RunQueue } from '../execution/run-queue';
import { RUN_DURATION, RUNS_FINISHED } from '../runs.metrics';
import { type Dispatch, RunLanes } from './run-lanes';
import { eventTypeOf, sourcesOf } from './run-transitions';

export interface TransitionOptions {
  /** Only from these statuses (narrower than what the state machine allows). */
  from?: readonly RunStatus[];
  /** Only while this execution's claim holds. */
  epoch?: number;
  error?: RunError;
  outputMessageId?: string;
  usage?: RunUsage | null;
  /** Why (for the event): e.g. the reason of a cancellation. */
  reason?: string;
}

export interface Transitioned {
  run: Run;
  from: RunStatus;
  dispatched: Dispatch[];
}

/** A run's lane (it never changes, so it can be read before the lane is locked). */
async function laneOf(tx: EntityManager, runId: string): Promise<{ lane: string } | undefined> {
  const [row] = await tx
    .getConnection()
    .execute<{ lane: string }[]>(
      'select lane from runs where id = ?',
      [runId],
      'all',
      tx.getTransactionContext(),
    );
  return row;
}

// Relayed outbox rows are cleared together, a few milliseconds after their jobs were added.
const OUTBOX_CLEAR_DELAY_MS = 10;
const OUTBOX_CLEAR_BATCH = 500;

/** Stream event type for a status a run just reached. */
const STREAM_EVENT: Partial<Record<RunStatus, SessionEvent['type']>> = {
  [RunStatus.Completed]: 'run_completed',
  [RunStatus.Failed]: 'run_failed',
  [RunStatus.Cancelled]: 'run_cancelled',
  [RunStatus.Expired]: 'run_failed',
  [RunStatus.AwaitingApproval]: 'run_parked',
  [RunStatus.AwaitingChildren]: 'run_parked',
  [RunStatus.Queued]: 'run_queued',
};

/**
 * The one way a run changes status: a conditional UPDATE enforcing the state machine (and the
 * caller's lease epoch), the matching domain event, and the lane's next dispatch, all in one
 * transaction; then, after commit, the queue, the stream event and the metrics.
 */
@Injectable()
export class RunLifecycle {
  private readonly logger = new Logger(RunLifecycle.name);
  /** Dispatches enqueued whose outbox rows are yet to be cleared, and the pending clean-up. */
  private readonly relayed: Dispatch[] = [];
  private clearing: NodeJS.Timeout | null = null;

  constructor(
    private readonly em: EntityManager,
    private readonly lanes: RunLanes,
    private readonly domainEvents: DomainEvents,
    private readonly queue: RunQueue,
    private readonly events: EventBus,
    @InjectMetric(RUNS_FINISHED) private readonly finished: Counter<string>,
    @InjectMetric(RUN_DURATION) private readonly duration: Histogram<string>,
  ) {}

  /**
   * Inside the caller's transaction. Returns null when the run is not in an allowed status (or
   * the epoch moved on): someone else already moved it, and nothing was written. Two requests are
   * settled under the run's row lock, so they cannot be lost in a race: parking a run whose
   * cancellation was requested cancels it instead, and parking a run on children that have all
   * finished already puts it straight back in the queue.
   */
  async transition(
    tx: EntityManager,
    runId: string,
    requested: RunStatus,
    options: TransitionOptions = {},
  ): Promise<Transitioned | null> {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    // A run's lane never changes: read it unlocked, then lock in the one order every path uses
    // (lane, then rows, then the session's counter), so finishing and interrupting cannot deadlock.
    const located = await laneOf(tx, runId);
    if (!located) return null;
    // Parking may turn into a final state (a requested cancel): lock the lane for those too.
    if (FINAL_RUN_STATUSES.includes(requested) || PARKED_RUN_STATUSES.includes(requested))
      await this.lanes.lock(tx, located.lane);
    const [current] = await conn.execute<
      { status: RunStatus; lease_epoch: number; cancel_requested_at: Date | null }[]
    >(
      'select status, lease_epoch, cancel_requested_at from runs where id = ? for update',
      [runId],
      'all',
      ctx,
    );
    if (!current) return null;
    let to = requested;
    if (PARKED_RUN_STATUSES.includes(to) && current.cancel_requested_at) to = RunStatus.Cancelled;
    else if (to === RunStatus.AwaitingChildren && !(await this.hasActiveChildren(tx, runId)))
      to = RunStatus.Queued;
    const allowed = sourcesOf(to).filter(
      (s) => !options.from || options.from.includes(s) || to !== requested,
    );
    if (!allowed.includes(current.status)) return null;
    if (options.epoch !== undefined && current.lease_epoch !== options.epoch) return null;
    const final = FINAL_RUN_STATUSES.includes(to);
    // Only the head's end moves the lane on (the others wait; the head may hold a job already).
    const wasHead = final && (await this.lanes.head(tx, located.lane))?.id === runId;

    const sets = ['status = ?'];
    const params: unknown[] = [to];
    if (final) sets.push('finished_at = now()');
    if (to === RunStatus.Cancelled)
      sets.push('cancel_requested_at = coalesce(cancel_requested_at, now())');
    // max_run_seconds bounds each active stretch: time spent parked does not count.
    if (PARKED_RUN_STATUSES.includes(to)) sets.push('deadline_at = null', 'parked_at = now()');
    else sets.push('parked_at = null');
    const error =
      options.error ??
      (to === RunStatus.Cancelled && requested !== to
        ? { code: 'CANCELLED', message: 'Cancelled while it was about to wait' }
        : undefined);
    if (error) {
      sets.push('error = ?::jsonb');
      params.push(JSON.stringify(error));
    }
    if (options.outputMessageId) {
      sets.push('output_message_id = ?');
      params.push(options.outputMessageId);
    }
    if (options.usage !== undefined) {
      sets.push('usage = ?::jsonb');
      params.push(options.usage ? JSON.stringify(options.usage) : null);
    }
    const [updated] = await conn.execute<Record<string, unknown>[]>(
      `update runs set ${sets.join(', ')} where id = ? returning *`,
      [...params, runId],
      'all',
      ctx,
    );
    const run = tx.map(Run, updated);

    const type = eventTypeOf(current.status, to);
    if (type)
      await this.domainEvents.record(tx, {
        type,
        aggregateType: 'run',
        aggregateId: run.id,
        ownerId: run.ownerId,
        payload: {
          run_id: run.id,
          session_id: run.sessionId,
          project_id: run.projectId,
          agent_id: run.agentId,
          parent_run_id: run.parentRunId,
          kind: run.kind,
          // It delegated tasks: its end may have children to take along.
          ...(run.state.delegated ? { delegated: true } : {}),
          // A task of a plan: the plan's scheduler (not the generic join) moves its parent on.
          ...(run.input?.plan_task ? { plan_task: run.input.plan_task } : {}),
          from: current.status,
          status: to,
          ...(error ? { error } : {}),
          ...(options.reason ? { reason: options.reason } : {}),
        },
      });
    const dispatched: Dispatch[] = [];
    if (wasHead) {
      const next = await this.lanes.advance(tx, run.lane);
      if (next) dispatched.push(next);
    } else if (to === RunStatus.Queued) {
      dispatched.push(await this.lanes.dispatch(tx, run.id));
    }
    return { run, from: current.status, dispatched };
  }

  /** Where these runs stand (in the caller's transaction): status, state and error. */
  async statuses(
    tx: EntityManager,
    ids: string[],
  ): Promise<{ id: string; status: RunStatus; state: RunState; error: RunError | null }[]> {
    if (!ids.length) return [];
    return tx
      .getConnection()
      .execute(
        'select id, status, state, error from runs where id = any(?::uuid[])',
        [`{${ids.join(',')}}`],
        'all',
        tx.getTransactionContext(),
      );
  }

  /** Whether any child of the run is still active (a parent waits for them all). */
  async hasActiveChildren(tx: EntityManager, runId: string): Promise<boolean> {
    const [{ n }] = await tx.getConnection().execute<{ n: number }[]>(
      `select count(*)::int as n from runs where parent_run_id = ?
         and status in ${ACTIVE_RUN_STATUSES_SQL}`,
      [runId],
      'all',
      tx.getTransactionContext(),
    );
    return n > 0;
  }

  /**
   * A cancellation decided under the run's row lock (in the caller's transaction): a queued or
   * parked run is cancelled now; a running one is flagged, and its worker (told after commit)
   * stops it; the flag also turns a park into a cancel. Null when the run is already final.
   */
  async requestCancel(
    tx: EntityManager,
    runId: string,
    reason: string,
    error?: RunError,
  ): Promise<{ cancelled: Transitioned } | { signal: string } | null> {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    const located = await laneOf(tx, runId);
    if (!located) return null;
    await this.lanes.lock(tx, located.lane);
    const [row] = await conn.execute<{ status: RunStatus }[]>(
      'select status from runs where id = ? for update',
      [runId],
      'all',
      ctx,
    );
    if (!row || FINAL_RUN_STATUSES.includes(row.status)) return null;
    if (row.status === RunStatus.Running) {
      await tx.getConnection().execute(
        `update runs set cancel_requested_at = coalesce(cancel_requested_at, now()),
             error = coalesce(error, ?::jsonb) where id = ?`,
        [error ? JSON.stringify(error) : null, runId],
        'run',
        tx.getTransactionContext(),
      );
      return { signal: runId };
    }
    const cancelled = await this.transition(tx, runId, RunStatus.Cancelled, { reason, error });
    return cancelled ? { cancelled } : null;
  }

  /**
   * queued | running -> running for one execution: the lease epoch goes up (fencing whatever
   * execution held it before), the deadline is set on the first start of an active stretch.
   * Null when the run is no longer there to claim (finished, parked, cancelled).
   */
  async claim(
    runId: string,
    dispatch: number,
    workerId: string,
    maxRunSeconds: number,
  ): Promise<Run | null> {
    const em = this.em.fork();
    // Only the current dispatch may claim: a stale job of the run finds nothing to do.
    const claimed = await em.getConnection().execute<Record<string, unknown>[]>(
      `update runs set status = 'running', started_at = coalesce(started_at, now()), heartbeat_at = now(),
         deadline_at = coalesce(deadline_at, now() + make_interval(secs => ?)),
         executions = executions + 1, lease_epoch = lease_epoch + 1, worker_id = ?
       where id = ? and dispatches = ? and status in (${sourcesOf(RunStatus.Running)
         .map(() => '?')
         .join(', ')})
       returning *`,
      [maxRunSeconds, workerId, runId, dispatch, ...sourcesOf(RunStatus.Running)],
    );
    return claimed.length ? em.map(Run, claimed[0]) : null;
  }

  /** A transition in a transaction of its own, then its effects (queue, stream, metrics). */
  async apply(runId: string, to: RunStatus, options: TransitionOptions = {}): Promise<Run | null> {
    const result = await this.em.transactional((tx) => this.transition(tx, runId, to, options));
    if (!result) return null;
    await this.afterCommit(result);
    return result.run;
  }

  /** What a committed transition sets in motion. Never throws: the relay covers the queue. */
  async afterCommit({ run, dispatched }: Transitioned): Promise<void> {
    this.announce(run);
    for (const d of dispatched) await this.enqueue(d);
  }

  announce(run: Run): void {
    const type = STREAM_EVENT[run.status as RunStatus];
    if (FINAL_RUN_STATUSES.includes(run.status)) {
      this.finished.inc({ status: run.status });
      if (run.startedAt && run.finishedAt)
        this.duration.observe(
          { status: run.status },
          (run.finishedAt.getTime() - run.startedAt.getTime()) / 1000,
        );
    }
    if (type)
      this.events.publish(
        new SessionEvent(type, run.sessionId, run.id, run.agentId, {
          run: toRunDto(run),
          ...(run.error ? { error: run.error } : {}),
        }),
      );
  }

  /**
   * Enqueues a committed dispatch and clears its outbox row. Clearing is batched (one DELETE for
   * the dispatches of the last few milliseconds) and not awaited: nobody waits for it, and a row
   * left behind only makes the relay re-add a job that exists, a no-op. On failure the relay
   * retries.
   */
  /**
   * A dead worker's execution: its run gets a fresh dispatch at once, instead of waiting for the
   * job's lock to lapse; the stale job then finds nothing to do. Only if nobody took the run over
   * meanwhile (same dispatch, still that worker's, still running). A worker wrongly declared dead
   * is fenced by the lease epoch of the new claim.
   */
  async redispatchAbandoned(runId: string, dispatch: number, workerId: string): Promise<boolean> {
    const [row] = await this.em
      .fork()
      .getConnection()
      .execute<{ dispatch: number }[]>(
        `with bumped as (
           update runs set dispatches = dispatches + 1
           where id = ? and dispatches = ? and worker_id = ? and status = 'running'
           returning id, dispatches
         )
         insert into run_outbox (run_id, dispatch) select id, dispatches from bumped
         on conflict (run_id) do update set dispatch = excluded.dispatch, attempts = 0, created_at = now()
         returning dispatch`,
        [runId, dispatch, workerId],
      );
    if (!row) return false;
    await this.enqueue({ runId, dispatch: row.dispatch });
    return true;
  }

  async enqueue(d: Dispatch): Promise<void> {
    if (await this.queue.enqueue(d.runId, d.dispatch)) this.clearOutbox(d);
  }

  private clearOutbox(d: Dispatch): void {
    this.relayed.push(d);
    this.clearing ??= setTimeout(() => void this.flushOutbox(), OUTBOX_CLEAR_DELAY_MS).unref();
  }

  private async flushOutbox(): Promise<void> {
    const batch = this.relayed.splice(0, OUTBOX_CLEAR_BATCH);
    this.clearing = this.relayed.length
      ? setTimeout(() => void this.flushOutbox(), OUTBOX_CLEAR_DELAY_MS).unref()
      : null;
    try {
      await this.em
        .fork()
        .getConnection()
        .execute(
          `delete from run_outbox where (run_id, dispatch) in (${batch.map(() => '(?::uuid, ?::int)').join(', ')})`,
          batch.flatMap((d) => [d.runId, d.dispatch]),
        );
    } catch (error) {
      this.logger.warn(
        `Could not clear ${batch.length} relayed outbox rows: ${(error as Error).message}`,
      );
    }
  }
}
