import { CommandHandler, EventBus, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { toRunDto } from '../../dto/mappers';
import { FINAL_RUN_STATUSES, Run, RunStatus } from '../../entities/run.entity';
import { SessionEvent } from '../../events/session-events';
import { RunCancellation } from '../../execution/run-cancellation';
import { RunQueue } from '../../execution/run-queue';
import { RUNS_FINISHED } from '../../sessions.metrics';
import { notFound, RunAlreadyFinishedError } from '../../sessions.errors';
import { CancelRunCommand } from './cancel-run.command';

/**
 * Queued: cancelled at once (the job finds it cancelled and does nothing). Running: flagged and
 * signalled; the executing worker aborts the model call and marks it cancelled. Finished: 409.
 */
@CommandHandler(CancelRunCommand)
export class CancelRunHandler implements ICommandHandler<CancelRunCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly events: EventBus,
    private readonly cancellation: RunCancellation,
    private readonly queue: RunQueue,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
    @InjectMetric(RUNS_FINISHED) private readonly finished: Counter<string>,
  ) {}

  async execute({ sessionId, runId, ownerId }: CancelRunCommand): Promise<Run> {
    const scope = { id: runId, session: sessionId, ownerId };
    const cancelledNow = await this.em.nativeUpdate(
      Run,
      { ...scope, status: RunStatus.Queued },
      { status: RunStatus.Cancelled, finishedAt: new Date(), cancelRequestedAt: new Date() },
    );
    const run = await this.em.findOne(Run, scope, { refresh: true });
    if (!run) throw notFound(this.denials, 'run');
    if (cancelledNow === 1) {
      this.finished.inc({ status: RunStatus.Cancelled });
      await this.queue.remove(run.id);
      this.events.publish(
        new SessionEvent('run_cancelled', sessionId, run.id, run.agentId, { run: toRunDto(run) }),
      );
      return run;
    }
    if (FINAL_RUN_STATUSES.includes(run.status)) throw new RunAlreadyFinishedError(run.status);
    if (!run.cancelRequestedAt) {
      run.cancelRequestedAt = new Date();
      await this.em.flush();
    }
    await this.cancellation.requestCancel(run.id);
    return run;
  }
}
