import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { PARKED_RUN_STATUSES, Run, RunStatus } from '../../entities/run.entity';
import { RunLifecycle } from '../../lifecycle/run-lifecycle';
import { ResumeRunCommand } from './resume-run.command';

@CommandHandler(ResumeRunCommand)
export class ResumeRunHandler implements ICommandHandler<ResumeRunCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly lifecycle: RunLifecycle,
  ) {}

  async execute({ runId, resolutions, reason }: ResumeRunCommand): Promise<Run | null> {
    const result = await this.em.fork().transactional(async (tx) => {
      const moved = await this.lifecycle.transition(tx, runId, RunStatus.Queued, {
        from: PARKED_RUN_STATUSES,
        reason,
      });
      if (!moved) return null;
      const conn = tx.getConnection();
      for (const r of resolutions)
        await conn.execute(
          `update run_steps set status = ?, result = ?::jsonb, error = ?::jsonb, finished_at = now()
           where run_id = ? and seq = ? and status = 'awaiting'`,
          [
            r.status,
            r.result === undefined ? null : JSON.stringify(r.result),
            r.error ? JSON.stringify(r.error) : null,
            runId,
            r.seq,
          ],
          'run',
          tx.getTransactionContext(),
        );
      return moved;
    });
    if (!result) return this.em.fork().findOne(Run, { id: runId });
    await this.lifecycle.afterCommit(result);
    return result.run;
  }
}
