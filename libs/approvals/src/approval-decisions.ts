import { ApprovalEditChecks } from './approval-edit-checks';
import { Injectable, Logger } from '@nestjs/common';
import { CommandBus, EventBus, QueryBus } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';
import { ResourceNotFoundError, ThrottledLog } from '@codelab/platform';
import { GetOwnedAgentQuery } from '@codelab/agents';
import { GetOwnedProjectQuery, settingsOf } from '@codelab/projects';
import { argsDigest, ResumeRunCommand, RunStatus, StepStatus } from '@codelab/runs';
import { SessionEvent } from '@codelab/streaming';
import { decideToolCall, ToolRegistry } from '@codelab/tools';
import {
  ApprovalDigestMismatchError,
  ApprovalEditRefusedError,
  ApprovalNotPendingError,
} from './approvals.errors';
import { APPROVAL_DECISION_TIME, APPROVALS_DECIDED } from './approvals.metrics';
import { toApprovalDto } from './dto/approval.dto';
import {
  Approval,
  type ApprovalActor,
  ApprovalKind,
  ApprovalStatus,
} from './entities/approval.entity';

export type DecisionAction = 'approve' | 'reject' | 'expire' | 'cancel';

export interface Decision {
  approvalId: string;
  action: DecisionAction;
  actor: ApprovalActor;
  /** The user's scope: the approval must be theirs (else not found). */
  owner?: { projectId: string; ownerId: string };
  /** What the user looked at: must be the approval's current digest. */
  argsDigest?: string;
  editedArgs?: Record<string, unknown>;
  reason?: string;
  idempotencyKey?: string;
}

/**
 * What the model reads when a decided call does not run (rejected, expired, cancelled), or null
 * when it runs (approved) or waits (pending).
 */
export function refusalOf(approval: Approval): { code: string; message: string } | null {
  switch (approval.status) {
    case ApprovalStatus.Rejected:
      return {
        code: 'REJECTED_BY_USER',
        message: `The user rejected this call${approval.decisionReason ? `: ${approval.decisionReason}` : ''}. It did not run.`,
      };
    case ApprovalStatus.Expired:
      return {
        code: 'APPROVAL_EXPIRED',
        message:
          'Nobody decided on this call before its deadline; by default it was not run. It did not run.',
      };
    case ApprovalStatus.Cancelled:
      return { code: 'APPROVAL_CANCELLED', message: 'The approval was cancelled. It did not run.' };
    default:
      return null;
  }
}

/**
 * Decides approvals: the user (approve with optional edits, reject), the deadline (its default
 * action), the system (cancelled with its run). Exactly one decision wins: the row is locked and
 * must still be pending. After commit the run resumes: an approved call runs (exactly the approved
 * arguments), a rejected or expired one is journalled as failed with what the model is told.
 */
@Injectable()
export class ApprovalDecisions {
  private readonly logger = new Logger(ApprovalDecisions.name);
  private readonly throttled = new ThrottledLog(this.logger);

  constructor(
    private readonly editChecks: ApprovalEditChecks,
    private readonly em: EntityManager,
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    private readonly events: EventBus,
    private readonly tools: ToolRegistry,
    @InjectMetric(APPROVALS_DECIDED) private readonly decided: Counter<string>,
    @InjectMetric(APPROVAL_DECISION_TIME) private readonly decisionTime: Histogram<string>,
  ) {}

  async decide(decision: Decision): Promise<Approval | null> {
    const outcome = await this.em.fork().transactional(async (tx) => {
      const scope = decision.owner;
      const [row] = await tx.getConnection().execute<Record<string, unknown>[]>(
        `select *, deadline_at <= now() as due from approvals
           where id = ?${scope ? ' and project_id = ? and owner_id = ?' : ''} for update`,
        [decision.approvalId, ...(scope ? [scope.projectId, scope.ownerId] : [])],
        'all',
        tx.getTransactionContext(),
      );
      if (!row) {
        if (scope) throw new ResourceNotFoundError('Approval');
        return null;
      }
      const { due, ...columns } = row;
      const approval = tx.map(Approval, columns);
      // A deadline is PostgreSQL's clock, not the worker's: an early timer changes nothing.
      if (decision.action === 'expire' && approval.status === ApprovalStatus.Pending && !due)
        return { approval, changed: false };
      if (approval.status !== ApprovalStatus.Pending) {
        // A retried decision (same Idempotency-Key) answers as the first did; a late timer or
        // cancellation changes nothing.
        if (decision.idempotencyKey && approval.decisionKey === decision.idempotencyKey)
          return { approval, changed: false };
        if (decision.actor !== 'user') return { approval, changed: false };
        throw new ApprovalNotPendingError(approval.status, toApprovalDto(approval));
      }
      if (decision.actor === 'user' && decision.argsDigest !== approval.argsDigest)
        throw new ApprovalDigestMismatchError(toApprovalDto(approval));
      const edited = decision.editedArgs ?? null;
      if (edited) await this.checkEdit(approval, edited);
      const status =
        decision.action === 'approve'
          ? ApprovalStatus.Approved
          : decision.action === 'reject'
            ? ApprovalStatus.Rejected
            : decision.action === 'cancel'
              ? ApprovalStatus.Cancelled
              : approval.defaultAction === 'approve'
                ? ApprovalStatus.Approved
                : ApprovalStatus.Expired;
      const [updated] = await tx.getConnection().execute<Record<string, unknown>[]>(
        `update approvals set status = ?, version = version + 1, decided_at = now(), decided_by = ?,
           decision_reason = ?, edited_args = ?::jsonb, edited_digest = ?, decision_key = ?
         where id = ? returning *`,
        [
          status,
          decision.actor,
          decision.reason ?? null,
          edited ? JSON.stringify(edited) : null,
          edited ? argsDigest(edited) : null,
          decision.idempotencyKey ?? null,
          approval.id,
        ],
        'all',
        tx.getTransactionContext(),
      );
      return { approval: tx.map(Approval, updated), changed: true };
    });
    if (!outcome) return null;
    if (outcome.changed) await this.afterDecision(outcome.approval);
    return outcome.approval;
  }

  /**
   * Puts the run back in the queue for its decided approval (idempotent: a run no longer parked
   * is left alone) and marks the approval resumed. The sweeper calls it again for a decision whose
   * resume did not happen (a crash right after the commit).
   */
  async resume(approval: Approval): Promise<void> {
    const error = approval.status === ApprovalStatus.Cancelled ? null : refusalOf(approval);
    if (approval.status === ApprovalStatus.Approved || error) {
      const run = await this.commands.execute(
        new ResumeRunCommand(
          approval.runId,
          error
            ? [
                {
                  seq: approval.stepSeq,
                  status: StepStatus.Failed,
                  result: { error: error.code, message: error.message },
                  error,
                },
              ]
            : [],
          `approval ${approval.status}`,
        ),
      );
      // Decided before its run finished parking (the worker is still settling the step): not
      // handed over yet. The run.parked handler (or the sweeper) resumes it once parked.
      if (run?.status === RunStatus.Running) return;
    }
    await this.em
      .fork()
      .getConnection()
      .execute('update approvals set resumed_at = now() where id = ?', [approval.id]);
  }

  /** A run just parked: hand over any decision on it that came before it finished parking. */
  async resumeDecidedOf(runId: string): Promise<void> {
    const rows = await this.em
      .fork()
      .getConnection()
      .execute<Record<string, unknown>[]>(
        `select * from approvals where run_id = ? and status <> 'pending' and resumed_at is null`,
        [runId],
      );
    for (const row of rows) await this.resume(this.em.fork().map(Approval, row));
  }

  private async afterDecision(approval: Approval): Promise<void> {
    this.decided.inc({ kind: approval.kind, outcome: approval.status, actor: approval.decidedBy! });
    if (approval.decidedAt)
      this.decisionTime.observe(
        { kind: approval.kind },
        (approval.decidedAt.getTime() - approval.createdAt.getTime()) / 1000,
      );
    this.events.publish(
      new SessionEvent('approval_resolved', approval.sessionId, approval.runId, approval.agentId, {
        approval: toApprovalDto(approval),
      }),
    );
    try {
      await this.resume(approval);
    } catch (error) {
      // Decided and committed: the sweeper resumes it.
      this.throttled.warn(
        'resume',
        `Could not resume run ${approval.runId}: ${(error as Error).message}`,
      );
    }
  }

  /**
   * Edited arguments get no more than was asked: the same tool, valid for its schema, and allowed
   * (or approvable) by the agent's policy and the project's settings on the resolved paths.
   */
  private async checkEdit(approval: Approval, edited: Record<string, unknown>): Promise<void> {
    const own = this.editChecks.of(approval.kind);
    if (own) {
      const refusal = await own(approval, edited);
      if (refusal) throw new ApprovalEditRefusedError(refusal);
      return;
    }
    const tool = this.tools.get(approval.toolName);
    if (!tool)
      throw new ApprovalEditRefusedError(`the tool "${approval.toolName}" is unknown here`);
    const invalid = this.tools.validate(tool, edited);
    if (invalid) throw new ApprovalEditRefusedError(invalid);
    const [agent, project] = await Promise.all([
      this.queries.execute(
        new GetOwnedAgentQuery(approval.projectId, approval.agentId, approval.ownerId),
      ),
      this.queries.execute(new GetOwnedProjectQuery(approval.projectId, approval.ownerId)),
    ]).catch((error: unknown) => {
      if (error instanceof ResourceNotFoundError)
        throw new ApprovalEditRefusedError('the agent or project is gone');
      throw error;
    });
    const settings = settingsOf(project);
    const context = {
      runId: approval.runId,
      sessionId: approval.sessionId,
      projectId: approval.projectId,
      ownerId: approval.ownerId,
      agentId: approval.agentId,
      stepSeq: approval.stepSeq,
      signal: new AbortController().signal,
      deniedPaths: settings.agent_denied_paths,
      publish: () => undefined,
    };
    const targets = tool.targets ? await tool.targets(edited, context) : undefined;
    if (targets && !Array.isArray(targets))
      throw new ApprovalEditRefusedError(
        targets.kind === 'error' ? targets.message : 'the paths do not resolve',
      );
    const verdict = decideToolCall(
      agent.toolPolicy(),
      { tool: approval.toolName, args: edited },
      {
        resolvedPaths: targets,
        approved: true,
        project: {
          commandsEnabled: settings.commands_enabled,
          commandsNeedApproval: settings.commands_need_approval,
          deniedPaths: settings.agent_denied_paths,
          approvalTools: settings.approval_tools,
        },
      },
    );
    if (verdict.outcome === 'deny') throw new ApprovalEditRefusedError(verdict.reason);
    if (approval.kind === ApprovalKind.Command && typeof edited.command !== 'string')
      throw new ApprovalEditRefusedError('a command edit must keep a command');
  }
}
