import type { EntityManager } from '@mikro-orm/postgresql';
import type { DomainEvent, DomainEventHandler } from '@codelab/platform';
import { type RunLifecycle, RunStatus, type Transitioned } from '@codelab/runs';
import type { OrchestrationRunHandler } from '../orchestration-run.handler';
import type { PlanScheduler } from '../scheduling/plan-scheduler';

/**
 * The scheduler's trigger: a task's child run ended. In one transaction (once per event) the
 * plan advances (the task settled, what became ready started) and, when the plan is over, the
 * orchestration run goes back to the queue to write the final answer.
 */
export function planSchedulingSaga(
  scheduler: PlanScheduler,
  lifecycle: RunLifecycle,
  handler: OrchestrationRunHandler,
): DomainEventHandler {
  return {
    name: 'orchestration.advance-plan-when-a-task-ends',
    types: ['run.finished'],
    accepts: (event) =>
      typeof event.payload.plan_task === 'object' && event.payload.plan_task !== null,
    async handle(event: DomainEvent, tx: EntityManager) {
      const { plan_id: planId } = event.payload.plan_task as { plan_id: string };
      const advanced = await scheduler.advance(tx, planId);
      if (!advanced) return;
      let resumed: Transitioned | null = null;
      if (advanced.terminal)
        resumed = await lifecycle.transition(tx, advanced.plan.run_id, RunStatus.Queued, {
          from: [RunStatus.AwaitingChildren],
          reason: 'plan_over',
        });
      return async () => {
        await handler.applied(
          { id: advanced.plan.run_id, sessionId: advanced.plan.session_id },
          advanced,
        );
        if (resumed) await lifecycle.afterCommit(resumed);
      };
    },
  };
}
