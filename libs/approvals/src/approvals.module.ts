import { Module, type OnModuleInit } from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import { AgentsModule } from '@codelab/agents';
import { DomainEvents } from '@codelab/platform';
import { ProjectsModule } from '@codelab/projects';
import { RunsModule } from '@codelab/runs';
import { ToolsModule } from '@codelab/tools';
import { ApprovalDecisions } from './approval-decisions';
import { ApprovalRequests } from './approval-requests';
import { approvalMetricProviders } from './approvals.metrics';
import { approvalOrphanHandlers } from './events/approval-orphans.handlers';
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
    ApprovalRequests,
    ApprovalDecisions,
    ApprovalDeadlines,
    GetOwnedApprovalHandler,
    ListApprovalsHandler,
    GetStepApprovalHandler,
    ...approvalMetricProviders,
  ],
  exports: [ApprovalRequests, ApprovalDecisions, ApprovalDeadlines, ...approvalMetricProviders],
})
export class ApprovalsModule implements OnModuleInit {
  constructor(
    private readonly domainEvents: DomainEvents,
    private readonly events: EventBus,
  ) {}

  onModuleInit(): void {
    for (const handler of approvalOrphanHandlers(this.events)) this.domainEvents.register(handler);
  }
}
