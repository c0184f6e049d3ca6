import { Module, type OnModuleInit } from '@nestjs/common';
import { AgentsModule } from '@codelab/agents';
import { HandoffsModule } from '@codelab/handoffs';
import { LlmModule } from '@codelab/llm';
import { ProjectsModule } from '@codelab/projects';
import { DomainEvents } from '@codelab/platform';
import { RunHandlers, RunLifecycle, RunsModule } from '@codelab/runs';
import { SessionsModule } from '@codelab/sessions';
import { StreamingModule } from '@codelab/streaming';
import { OrchestrationRunHandler } from './orchestration-run.handler';
import { orchestrationMetricProviders } from './orchestration.metrics';
import { GetPlanHandler } from './queries/get-plan/get-plan.handler';
import { planSchedulingSaga } from './sagas/plan-scheduling.saga';
import { removeProjectPlansHandler } from './sagas/remove-project-plans.handler';
import { PlanScheduler } from './scheduling/plan-scheduler';

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
    StreamingModule,
  ],
  providers: [
    OrchestrationRunHandler,
    PlanScheduler,
    GetPlanHandler,
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
  ) {}

  onModuleInit(): void {
    this.handlers.register(this.handler);
    this.domainEvents.register(planSchedulingSaga(this.scheduler, this.lifecycle, this.handler));
    this.domainEvents.register(removeProjectPlansHandler());
  }
}
