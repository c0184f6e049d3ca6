import { randomUUID } from 'node:crypto';
import { type Opt } from '@mikro-orm/core';
import { Entity, Enum, Index, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';

export enum ApprovalStatus {
  Pending = 'pending',
  Approved = 'approved',
  Rejected = 'rejected',
  Expired = 'expired',
  Cancelled = 'cancelled',
}

export enum ApprovalKind {
  Tool = 'tool',
  Command = 'command',
  Plan = 'plan',
}

export type ApprovalAction = 'approve' | 'reject';
export type ApprovalActor = 'user' | 'timeout' | 'system';

/**
 * A human's decision on one step of a run: created with the step's `awaiting` journal row (the
 * run parks and holds nothing), decided once (by the user, by the deadline's default action, or
 * cancelled with its run). Decided approvals stay as the audit trail.
 */
@Entity({ tableName: 'approvals' })
@Unique({ properties: ['runId', 'stepSeq'] })
// The owner's newest-first list, per project, optionally by status.
@Index({
  name: 'approvals_project_created_idx',
  expression:
    'create index "approvals_project_created_idx" on "approvals" ("project_id", "created_at" desc, "id" desc)',
})
// The sweeper's due pending approvals.
@Index({
  name: 'approvals_pending_deadline_idx',
  expression: `create index "approvals_pending_deadline_idx" on "approvals" ("deadline_at") where "status" = 'pending'`,
})
export class Approval {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'uuid' })
  projectId!: string;

  @Property({ type: 'uuid', index: true })
  ownerId!: string;

  @Property({ type: 'uuid' })
  sessionId!: string;

  // Found by (run_id, step_seq): the unique constraint's index.
  @Property({ type: 'uuid' })
  runId!: string;

  @Property({ type: 'integer' })
  stepSeq!: number;

  @Property({ type: 'uuid' })
  agentId!: string;

  @Enum({ items: () => ApprovalKind, nativeEnumName: 'approval_kind' })
  kind!: ApprovalKind;

  @Property({ type: 'string', length: 100 })
  toolName!: string;

  @Property({ type: 'json' })
  args!: Record<string, unknown>;

  /** SHA-256 of the RFC 8785 canonical JSON of `args`: what a decision must name. */
  @Property({ type: 'string', length: 64 })
  argsDigest!: string;

  /** Why it needs approval (the policy's reason). */
  @Property({ type: 'text' })
  reason!: string;

  @Enum({ items: () => ApprovalStatus, nativeEnumName: 'approval_status' })
  status: Opt<ApprovalStatus> = ApprovalStatus.Pending;

  /** Bumped by every change: clients see that what they looked at moved on. */
  @Property({ type: 'integer' })
  version: Opt<number> = 1;

  @Property({ type: 'datetime' })
  deadlineAt!: Date;

  @Property({ type: 'string', length: 10 })
  defaultAction!: ApprovalAction;

  @Property({ type: 'datetime', nullable: true })
  decidedAt: Date | null = null;

  @Property({ type: 'string', length: 10, nullable: true })
  decidedBy: ApprovalActor | null = null;

  /** The decider's words (a rejection's reason reaches the model). */
  @Property({ type: 'text', nullable: true })
  decisionReason: string | null = null;

  /** Approved with changes: what runs instead of `args`, and its own digest. */
  @Property({ type: 'json', nullable: true })
  editedArgs: Record<string, unknown> | null = null;

  @Property({ type: 'string', length: 64, nullable: true })
  editedDigest: string | null = null;

  /** The Idempotency-Key of the decision: retrying it answers the same, not 409. */
  @Property({ type: 'string', length: 255, nullable: true })
  decisionKey: string | null = null;

  /** Set once the decision has been handed to the run (the sweeper retries until it is). */
  @Property({ type: 'datetime', nullable: true })
  resumedAt: Date | null = null;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;
}
