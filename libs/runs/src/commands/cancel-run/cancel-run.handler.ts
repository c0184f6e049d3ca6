import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { FINAL_RUN_STATUSES, Run, RunStatus } from '../../entities/run.entity';
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

    // Decided under the run's row lock: cancelled now (queued, parked), or flagged (running).
    const decision = await this.em
      .fork()
      .transactional((tx) => this.lifecycle.requestCancel(tx, run.id, reason));
    if (decision && 'cancelled' in decision) {
      await this.lifecycle.afterCommit(decision.cancelled);
      if (run.dispatches > 0) await this.queue.remove(run.id, run.dispatches);
      return decision.cancelled.run;
    }
    // Running: the worker executing it stops (told now; its heartbeat also sees the flag).
    if (decision) await this.cancellation.requestCancel(run.id);
    const current = await this.em.findOneOrFail(Run, scope, { disableIdentityMap: true });
    if (FINAL_RUN_STATUSES.includes(current.status) && current.status !== RunStatus.Cancelled)
      throw new RunAlreadyFinishedError(current.status);
    return current;
  }
}
