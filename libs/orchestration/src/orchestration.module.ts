import { Module, type OnModuleInit } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { AgentsModule, ListAgentsQuery } from '@codelab/agents';
import { ApprovalEditChecks, ApprovalKind, ApprovalsModule } from '@codelab/approvals';
import { HandoffsModule } from '@codelab/handoffs';
import { LlmModule } from '@codelab/llm';
import { ProjectsModule } from '@codelab/projects';
import { DomainEvents } from '@codelab/platform';
import { RunHandlers, RunLifecycle, RunsModule } from '@codelab/runs';
import { SessionsModule } from '@codelab/sessions';
import { StreamingModule } from '@codelab/streaming';
import { OrchestrationRunHandler } from './orchestration-run.handler';
import { orchestrationMetricProviders } from './orchestration.metrics';
import { GetPlanHandler, GetRunPlanHandler } from './queries/get-plan/get-plan.handler';
import { planSchedulingSaga } from './sagas/plan-scheduling.saga';
import { removeProjectPlansHandler } from './sagas/remove-project-plans.handler';
import { PlanScheduler } from './scheduling/plan-scheduler';
import { parseDecision, validatePlan } from './planning/plan-validation';

/**
 * Orchestrated mode: the orchestration run handler (planner, plan, join), the event-driven plan
 * scheduler and its saga, and the plan query (API and worker processes; handlers run in workers).
 */
@Module({
  imports: [
    AgentsModule,
    ProjectsModule,
    SessionsModule,
    RunsModule,
    LlmModule,
    HandoffsModule,
    ApprovalsModule,
    StreamingModule,
  ],
  providers: [
    OrchestrationRunHandler,
    PlanScheduler,
    GetPlanHandler,
    GetRunPlanHandler,
    ...orchestrationMetricProviders,
  ],
})
export class OrchestrationModule implements OnModuleInit {
  constructor(
    private readonly domainEvents: DomainEvents,
    private readonly handlers: RunHandlers,
    private readonly handler: OrchestrationRunHandler,
    private readonly scheduler: PlanScheduler,
    private readonly lifecycle: RunLifecycle,
    private readonly editChecks: ApprovalEditChecks,
    private readonly queries: QueryBus,
  ) {}

  onModuleInit(): void {
    this.handlers.register(this.handler);
    this.domainEvents.register(planSchedulingSaga(this.scheduler, this.lifecycle, this.handler));
    this.domainEvents.register(removeProjectPlansHandler());
    // A user's edit of a plan approval is validated as a planner's plan is.
    this.editChecks.register(ApprovalKind.Plan, async (approval, edited) => {
      const parsed = parseDecision(JSON.stringify({ decision: 'plan', tasks: edited.tasks }));
      if ('errors' in parsed) return parsed.errors.join('; ');
      if (parsed.decision !== 'plan') return 'a plan edit must keep a plan';
      const { items } = await this.queries.execute(
        new ListAgentsQuery(approval.projectId, approval.ownerId, 100),
      );
      const errors = validatePlan(
        parsed.tasks,
        items.map((a) => a.name),
      );
      return errors.length ? errors.join('; ') : null;
    });
  }
}
