import { DomainError } from '@codelab/platform';

/** A decision that no longer applies: the approval was decided, expired or cancelled. */
export class ApprovalNotPendingError extends DomainError {
  readonly code = 'APPROVAL_NOT_PENDING';
  readonly kind = 'conflict' as const;
  constructor(status: string, approval: object) {
    super(`The approval is ${status}, no longer pending`, { approval });
  }
}

/** The decision names other arguments than the approval holds (a stale view). */
export class ApprovalDigestMismatchError extends DomainError {
  readonly code = 'APPROVAL_DIGEST_MISMATCH';
  readonly kind = 'conflict' as const;
  constructor(approval: object) {
    super('args_digest is not the digest of the arguments awaiting approval', { approval });
  }
}

/** Edited arguments that the tool's schema or the agent's policy refuse (never wider). */
export class ApprovalEditRefusedError extends DomainError {
  readonly code = 'APPROVAL_EDIT_REFUSED';
  readonly kind = 'unprocessable' as const;
  constructor(reason: string) {
    super(`edited_args refused: ${reason}`);
  }
}
