import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../approvals.module';
import { ApprovalDeadlineWorker } from './approval-deadline.worker';

/** Deadlines and the sweeper (worker processes only). */
@Module({
  imports: [ApprovalsModule],
  providers: [ApprovalDeadlineWorker],
  exports: [ApprovalDeadlineWorker],
})
export class ApprovalsWorkerModule {}
