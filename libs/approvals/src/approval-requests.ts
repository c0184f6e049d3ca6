import { Injectable } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import { argsDigest } from '@codelab/runs';
import { Approval, type ApprovalAction, type ApprovalKind } from './entities/approval.entity';

export interface ApprovalRequest {
  projectId: string;
  ownerId: string;
  sessionId: string;
  runId: string;
  stepSeq: number;
  agentId: string;
  kind: ApprovalKind;
  toolName: string;
  args: Record<string, unknown>;
  reason: string;
  deadlineSeconds: number;
  defaultAction: ApprovalAction;
}

/**
 * Opens an approval in the caller's transaction: the one that journals the step as `awaiting`, so
 * a parked step always has its approval. Idempotent per (run, step): a run parking again on the
 * same step (after a crash) finds the approval it opened.
 */
@Injectable()
export class ApprovalRequests {
  async open(tx: EntityManager, request: ApprovalRequest): Promise<Approval> {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    await conn.execute(
      `insert into approvals (id, project_id, owner_id, session_id, run_id, step_seq, agent_id, kind,
         tool_name, args, args_digest, reason, status, version, deadline_at, default_action, created_at)
       values (gen_random_uuid(), ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, 'pending', 1,
         now() + make_interval(secs => ?), ?, now())
       on conflict (run_id, step_seq) do nothing`,
      [
        request.projectId,
        request.ownerId,
        request.sessionId,
        request.runId,
        request.stepSeq,
        request.agentId,
        request.kind,
        request.toolName,
        JSON.stringify(request.args),
        argsDigest(request.args),
        request.reason,
        request.deadlineSeconds,
        request.defaultAction,
      ],
      'run',
      ctx,
    );
    const [row] = await conn.execute<Record<string, unknown>[]>(
      'select * from approvals where run_id = ? and step_seq = ?',
      [request.runId, request.stepSeq],
      'all',
      ctx,
    );
    return tx.map(Approval, row);
  }
}
