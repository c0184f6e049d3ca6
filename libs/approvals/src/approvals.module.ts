import { Module, type OnModuleInit } from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import { AgentsModule } from '@codelab/agents';
import { DomainEvents } from '@codelab/platform';
import { ProjectsModule } from '@codelab/projects';
import { RunsModule } from '@codelab/runs';
import { ToolsModule } from '@codelab/tools';
import { ApprovalDecisions } from './approval-decisions';
import { ApprovalEditChecks } from './approval-edit-checks';
import { ApprovalRequests } from './approval-requests';
import { approvalMetricProviders } from './approvals.metrics';
import { approvalRunHandlers } from './events/approval-run.handlers';
import { ApprovalDeadlines } from './jobs/approval-deadlines';
import {
  GetOwnedApprovalHandler,
  GetStepApprovalHandler,
  ListApprovalsHandler,
} from './queries/approval-query.handlers';

/** Approvals: opened with a parked step, decided once, the run resumed (no HTTP, no jobs). */
@Module({
  imports: [ProjectsModule, AgentsModule, RunsModule, ToolsModule],
  providers: [
    ApprovalEditChecks,
    ApprovalRequests,
    ApprovalDecisions,
    ApprovalDeadlines,
    GetOwnedApprovalHandler,
    ListApprovalsHandler,
    GetStepApprovalHandler,
    ...approvalMetricProviders,
  ],
  exports: [
    ApprovalEditChecks,
    ApprovalRequests,
    ApprovalDecisions,
    ApprovalDeadlines,
    ...approvalMetricProviders,
  ],
})
export class ApprovalsModule implements OnModuleInit {
  constructor(
    private readonly domainEvents: DomainEvents,
    private readonly events: EventBus,
    private readonly decisions: ApprovalDecisions,
  ) {}

  onModuleInit(): void {
    for (const handler of approvalRunHandlers(this.events, this.decisions))
      this.domainEvents.register(handler);
  }
}
