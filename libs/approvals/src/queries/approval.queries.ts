import { Query } from '@nestjs/cqrs';
import type { KeysetPage } from '@codelab/platform';
import type { Approval, ApprovalStatus } from '../entities/approval.entity';

/** An approval by id, project AND owner in one query; not-found for missing and foreign alike. */
export class GetOwnedApprovalQuery extends Query<Approval> {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
    readonly approvalId: string,
  ) {
    super();
  }
}

/** A project's approvals, newest first, keyset-paginated; optionally by status and session. */
export class ListApprovalsQuery extends Query<KeysetPage<Approval>> {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
    readonly filter: { status?: ApprovalStatus; sessionId?: string },
    readonly limit: number,
    readonly cursor?: string,
  ) {
    super();
  }
}

/** The approval a parked step waits for (the run engine's side; the run is already checked). */
export class GetStepApprovalQuery extends Query<Approval | null> {
  constructor(
    readonly runId: string,
    readonly stepSeq: number,
  ) {
    super();
  }
}
