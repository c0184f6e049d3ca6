import { Injectable } from '@nestjs/common';
import type { Approval } from './entities/approval.entity';

/** Says what is wrong with edited arguments of an approval, or null when they may run. */
export type EditCheck = (
  approval: Approval,
  edited: Record<string, unknown>,
) => Promise<string | null>;

/**
 * Checks of edited approvals for kinds that are not tool calls (a plan): the feature that asks
 * for such approvals registers how an edit is validated, the same way as its own input.
 */
@Injectable()
export class ApprovalEditChecks {
  private readonly checks = new Map<string, EditCheck>();

  register(kind: string, check: EditCheck): void {
    this.checks.set(kind, check);
  }

  of(kind: string): EditCheck | undefined {
    return this.checks.get(kind);
  }
}
