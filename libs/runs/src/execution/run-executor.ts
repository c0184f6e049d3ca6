import { Injectable, Logger } from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import { EntityManager, RequestContext } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { crashPoint, ThrottledLog } from '@codelab/platform';
import { SessionEvent } from '@codelab/streaming';
import { toRunDto } from '../dto/run.mappers';
import { Run, RunStatus } from '../entities/run.entity';
import { isLaneHeadSql } from '../lifecycle/run-lanes';
import { RunLifecycle } from '../lifecycle/run-lifecycle';
import { RUN_QUEUE_WAIT, RUN_SLOT_WAITS, RUNS_ACTIVE, RUNS_FENCED } from '../runs.metrics';
import { RunCancellation, RunCancelledSignal } from './run-cancellation';
import {
  type RunContext,
  type RunHandler,
  RunHandlers,
  type RunLease,
  type RunOutcome,
  RunYieldSignal,
} from './run-handler';
import { RunLeaseLostError } from './run-lease';
import { RunQueue, runJobId } from './run-queue';
import { RunSlots, type SlotRequest } from './run-slots';
import { StepJournal } from './step-journal';
import { WorkerLiveness } from './worker-liveness';

export type ExecutionOutcome =
  { kind: 'done' } | { kind: 'wait'; delayMs: number } | { kind: 'dead_letter'; reason: string };

// A run waiting for an agent slot is woken by whoever frees one (promote); this delay is only the
// fallback, should a wake-up be lost.
const WAIT_FALLBACK_MAX_MS = 5_000;
const LEASE_LOST_RETRY_MS = 2_000;

/** The run's deadline passed: it fails with RUN_TIMEOUT. */
class RunDeadlineSignal extends Error {
  constructor() {
    super('deadline');
  }
}

/**
 * The run engine: executes one dispatch of a run, idempotently. It drops dispatches that are stale
 * or not their lane's head, asks the run's handler what it needs, takes the agent slot, claims the
 * run (lease epoch + 1), heartbeats, lets the handler work and applies its outcome through the
 * state machine. Ownership is the handler's to re-check from PostgreSQL, never the job payload's.
 */
@Injectable()
export class RunExecutor {
  private readonly logger = new Logger(RunExecutor.name);
  private readonly throttled = new ThrottledLog(this.logger);
  private readonly draining = new Set<AbortController>();

  constructor(
    private readonly em: EntityManager,
    private readonly events: EventBus,
    private readonly handlers: RunHandlers,
    private readonly lifecycle: RunLifecycle,
    private readonly slots: RunSlots,
    private readonly liveness: WorkerLiveness,
    private readonly queue: RunQueue,
    private readonly cancellation: RunCancellation,
    @InjectMetric(RUN_QUEUE_WAIT) private readonly queueWait: Histogram<string>,
    @InjectMetric(RUN_SLOT_WAITS) private readonly slotWaits: Counter<string>,
    @InjectMetric(RUNS_ACTIVE) private readonly active: Gauge<string>,
    @InjectMetric(RUNS_FENCED) private readonly fenced: Counter<string>,
  ) {}

  /**
   * Graceful shutdown: every execution in this process stops at its next step boundary and
   * hands its run back (the journal lets any worker resume it), instead of running to the end.
   */
  drain(): void {
    for (const controller of this.draining) controller.abort(new RunYieldSignal());
  }

  /** Each job gets its own unit of work (a forked EntityManager). */
  execute(runId: string, dispatch: number | undefined, waitsSoFar = 0): Promise<ExecutionOutcome> {
    return RequestContext.create(this.em, () => this.executeInContext(runId, dispatch, waitsSoFar));
  }

  private async executeInContext(
    runId: string,
    dispatch: number | undefined,
    waitsSoFar: number,
  ): Promise<ExecutionOutcome> {
    // Its job was re-delivered (the job lock lapsed) while this process still executes it.
    if (this.cancellation.isRunning(runId)) return { kind: 'wait', delayMs: LEASE_LOST_RETRY_MS };
    // The run and whether it is its lane's head, in one round trip.
    const [row] = await this.em
      .getConnection()
      .execute<(Record<string, unknown> & { is_head: boolean })[]>(
        `select r.*, ${isLaneHeadSql('r')} as is_head from runs r where r.id = ?`,
        [runId],
      );
    // Final, parked, or superseded by a newer dispatch: nothing for this job to do.
    if (!row || ![RunStatus.Queued, RunStatus.Running].includes(row.status as RunStatus))
      return { kind: 'done' };
    // (Jobs queued before dispatch numbers existed carry none: they are the current dispatch.)
    if (dispatch !== undefined && row.dispatches !== dispatch) return { kind: 'done' };
    // Not its turn: the transition that ends the head dispatches the next run.
    if (!row.is_head) return { kind: 'done' };
    const run = this.em.map(Run, row);

    const handler = this.handlers.get(run.kind);
    const prepared = await handler.prepare(run);
    if (prepared.kind === 'fail') {
      await this.lifecycle.apply(run.id, RunStatus.Failed, {
        from: [RunStatus.Queued, RunStatus.Running],
        error: prepared.error,
      });
      return { kind: 'done' };
    }
    const current = dispatch ?? run.dispatches;
    const slot: SlotRequest = {
      runId: run.id,
      dispatch: current,
      agentId: prepared.agentId,
      agentLimit: prepared.agentLimit,
    };
    const acquired = await this.slots.acquire(slot);
    const jobId = runJobId(run.id, current);
    if (acquired !== 'ok') return this.waitFor(acquired, slot, jobId, waitsSoFar);

    try {
      // Bookkeeping only (and only for a job that waited): a failure must not leave the slot held.
      if (waitsSoFar > 0)
        await this.slots
          .removeWaiter(slot.agentId, jobId)
          .catch((error: Error) =>
            this.throttled.warn('waiters', `Could not update slot waiters: ${error.message}`),
          );
      return await this.runWithSlot(run, handler, slot, prepared.maxRunSeconds);
    } finally {
      await this.slots.release(slot).catch(() => undefined);
      await this.wakeWaiters(slot.agentId);
    }
  }

  private async waitFor(
    reason: 'busy' | 'agent',
    slot: SlotRequest,
    jobId: string,
    waitsSoFar: number,
  ): Promise<ExecutionOutcome> {
    this.slotWaits.inc({ reason });
    // 'busy': the run still executes on a live worker (its job was re-delivered): retry later.
    if (reason === 'agent') await this.slots.addWaiter(slot.agentId, jobId);
    const delayMs =
      Math.min(WAIT_FALLBACK_MAX_MS, 100 * 2 ** Math.min(waitsSoFar, 6)) *
      (0.75 + Math.random() * 0.5);
    return { kind: 'wait', delayMs };
  }

  private async wakeWaiters(agentId: string): Promise<void> {
    try {
      await this.slots.wake(agentId, 2, (jobId) => this.queue.promote(jobId));
    } catch (error) {
      this.throttled.warn('wake', `Could not wake waiting runs: ${(error as Error).message}`);
    }
  }

  private async runWithSlot(
    run: Run,
    handler: RunHandler,
    slot: SlotRequest,
    maxRunSeconds: number,
  ): Promise<ExecutionOutcome> {
    const claimed = await this.lifecycle.claim(
      run.id,
      slot.dispatch,
      this.liveness.workerId,
      maxRunSeconds,
    );
    if (!claimed) return { kind: 'done' };
    crashPoint('run:claimed');
    const lease: RunLease = { runId: run.id, epoch: claimed.leaseEpoch };
    if (claimed.executions === 1 && claimed.startedAt)
      this.queueWait.observe((claimed.startedAt.getTime() - claimed.createdAt.getTime()) / 1000);
    if (claimed.cancelRequestedAt) {
      await this.lifecycle.apply(run.id, RunStatus.Cancelled, { epoch: lease.epoch });
      return { kind: 'done' };
    }

    this.events.publish(
      new SessionEvent('run_started', claimed.sessionId, claimed.id, claimed.agentId, {
        run: toRunDto(claimed),
        execution: claimed.executions,
      }),
    );
    const controller = this.cancellation.register(run.id, claimed.projectId);
    const drain = new AbortController();
    this.draining.add(drain);
    const deadline = claimed.deadlineAt;
    const deadlineTimer = deadline
      ? setTimeout(
          () => controller.abort(new RunDeadlineSignal()),
          Math.max(0, deadline.getTime() - Date.now()),
        )
      : undefined;
    deadlineTimer?.unref();
    // Renew the lease well before it lapses: a third of the TTL.
    const heartbeat = setInterval(
      () => void this.beat(slot, lease, controller),
      Math.floor(this.slots.leaseTtlMs / 3),
    );
    heartbeat.unref();
    this.active.inc();
    const context: RunContext = {
      run: claimed,
      lease,
      signal: controller.signal,
      draining: drain.signal,
      journal: new StepJournal(this.em, lease),
      deadline,
      publish: (type, payload) =>
        this.events.publish(
          new SessionEvent(type, claimed.sessionId, claimed.id, claimed.agentId, payload),
        ),
    };
    try {
      const outcome = await handler.execute(context);
      const settled = await this.settle(claimed, lease, outcome);
      crashPoint('run:settled');
      return settled;
    } catch (error) {
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : error;
      if (reason instanceof RunLeaseLostError || error instanceof RunLeaseLostError) {
        this.fenced.inc();
        this.logger.warn(`${(reason as Error).message}; stopping without writing`);
        // Either a newer execution owns the job (then this retry is refused as a stale token) or
        // nobody does (the lease merely lapsed), and the run resumes from its journal.
        return { kind: 'wait', delayMs: LEASE_LOST_RETRY_MS };
      }
      if (error instanceof RunYieldSignal) {
        this.logger.log(`Run ${run.id} handed back at a step boundary (shutting down)`);
        return { kind: 'wait', delayMs: 0 };
      }
      if (reason instanceof RunCancelledSignal) {
        await this.lifecycle.apply(run.id, RunStatus.Cancelled, { epoch: lease.epoch });
        return { kind: 'done' };
      }
      if (reason instanceof RunDeadlineSignal)
        return this.settle(claimed, lease, {
          kind: 'failed',
          error: {
            code: 'RUN_TIMEOUT',
            message: `The run exceeded its time limit (${maxRunSeconds} s)`,
          },
        });
      throw error;
    } finally {
      clearInterval(heartbeat);
      clearTimeout(deadlineTimer);
      this.draining.delete(drain);
      this.cancellation.unregister(run.id);
      this.active.dec();
    }
  }

  /** Applies a handler's outcome as a transition, fenced by the execution's epoch. */
  private async settle(run: Run, lease: RunLease, outcome: RunOutcome): Promise<ExecutionOutcome> {
    const epoch = lease.epoch;
    switch (outcome.kind) {
      case 'completed':
        await this.lifecycle.apply(run.id, RunStatus.Completed, {
          epoch,
          from: [RunStatus.Running],
          outputMessageId: outcome.outputMessageId,
          ...(outcome.usage !== undefined ? { usage: outcome.usage } : {}),
        });
        return { kind: 'done' };
      case 'failed':
        await this.lifecycle.apply(run.id, RunStatus.Failed, {
          epoch,
          from: [RunStatus.Running],
          error: outcome.error,
          outputMessageId: outcome.outputMessageId,
          ...(outcome.usage !== undefined ? { usage: outcome.usage } : {}),
        });
        return outcome.deadLetter
          ? { kind: 'dead_letter', reason: outcome.error.code }
          : { kind: 'done' };
      case 'parked':
        await this.lifecycle.apply(
          run.id,
          outcome.status === 'awaiting_approval'
            ? RunStatus.AwaitingApproval
            : RunStatus.AwaitingChildren,
          { epoch, from: [RunStatus.Running], reason: outcome.reason },
        );
        return { kind: 'done' };
    }
  }

  /** For dead letters: a job that exhausted its retries; throws when PostgreSQL is unreachable. */
  async failById(runId: string, error: { code: string; message: string }): Promise<void> {
    await this.lifecycle.apply(runId, RunStatus.Failed, {
      from: [RunStatus.Queued, RunStatus.Running],
      error,
    });
  }

  private async beat(
    slot: SlotRequest,
    lease: RunLease,
    controller: AbortController,
  ): Promise<void> {
    try {
      if (!(await this.slots.renew(slot))) {
        controller.abort(new RunLeaseLostError(slot.runId));
        return;
      }
      const [row] = await this.em.getConnection().execute<{ cancel_requested_at: Date | null }[]>(
        `update runs set heartbeat_at = now() where id = ? and status = 'running' and lease_epoch = ?
           returning cancel_requested_at`,
        [lease.runId, lease.epoch],
      );
      if (!row) controller.abort(new RunLeaseLostError(slot.runId));
      else if (row.cancel_requested_at) controller.abort(new RunCancelledSignal());
    } catch (error) {
      this.throttled.warn('heartbeat', `Run heartbeat failed: ${(error as Error).message}`);
    }
  }
}
