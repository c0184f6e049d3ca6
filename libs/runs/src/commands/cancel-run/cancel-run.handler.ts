import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { FINAL_RUN_STATUSES, PARKED_RUN_STATUSES, Run, RunStatus } from '../../entities/run.entity';
import { RunCancellation } from '../../execution/run-cancellation';
import { RunQueue } from '../../execution/run-queue';
import { RunLifecycle } from '../../lifecycle/run-lifecycle';
import { RunAlreadyFinishedError, runNotFound } from '../../runs.errors';
import { CancelRunCommand } from './cancel-run.command';

/**
 * Queued or parked: cancelled at once (its lane moves on). Running: flagged and signalled; the
 * executing worker aborts and marks it cancelled. Finished: 409.
 */
@CommandHandler(CancelRunCommand)
export class CancelRunHandler implements ICommandHandler<CancelRunCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly lifecycle: RunLifecycle,
    private readonly cancellation: RunCancellation,
    private readonly queue: RunQueue,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ sessionId, runId, ownerId, reason }: CancelRunCommand): Promise<Run> {
    const scope = { id: runId, sessionId, ownerId };
    const run = await this.em.findOne(Run, scope, { disableIdentityMap: true });
    if (!run) throw runNotFound(this.denials);
    if (FINAL_RUN_STATUSES.includes(run.status)) throw new RunAlreadyFinishedError(run.status);

    const cancelled = await this.lifecycle.apply(run.id, RunStatus.Cancelled, {
      from: [RunStatus.Queued, ...PARKED_RUN_STATUSES],
      reason,
    });
    if (cancelled) {
      if (run.dispatches > 0) await this.queue.remove(run.id, run.dispatches);
      return cancelled;
    }
    // Running (or it just started): ask the worker executing it to stop.
    await this.em
      .getConnection()
      .execute(
        `update runs set cancel_requested_at = coalesce(cancel_requested_at, now()) where id = ? and status = 'running'`,
        [run.id],
      );
    await this.cancellation.requestCancel(run.id);
    const current = await this.em.findOneOrFail(Run, scope, { disableIdentityMap: true });
    if (FINAL_RUN_STATUSES.includes(current.status) && current.status !== RunStatus.Cancelled)
      throw new RunAlreadyFinishedError(current.status);
    return current;
  }
}
