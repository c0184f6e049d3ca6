export {
  Approval,
  ApprovalKind,
  ApprovalStatus,
  type ApprovalAction,
} from './entities/approval.entity';
export { ApprovalRequests, type ApprovalRequest } from './approval-requests';
export { ApprovalDecisions, refusalOf } from './approval-decisions';
export { ApprovalDeadlines } from './jobs/approval-deadlines';
export { ApprovalDeadlineWorker } from './jobs/approval-deadline.worker';
export { GetStepApprovalQuery } from './queries/approval.queries';
export { toApprovalDto } from './dto/approval.dto';
export { APPROVALS_REQUESTED } from './approvals.metrics';
export { ApprovalsModule } from './approvals.module';
export { ApprovalsHttpModule } from './http/approvals-http.module';
export { ApprovalsWorkerModule } from './jobs/approvals-worker.module';
export { ApprovalEditChecks, type EditCheck } from './approval-edit-checks';
