import type { EntityManager } from '@mikro-orm/postgresql';

/** An execution's claim on a run: every write it makes is fenced by this epoch. */
export interface RunLease {
  runId: string;
  epoch: number;
}

/**
 * The execution lost its claim: a newer execution claimed the run (its worker was paused past its
 * lease and the run re-delivered), or the run left `running` (cancelled, finished elsewhere). It
 * must stop without writing anything.
 */
export class RunLeaseLostError extends Error {
  constructor(runId: string) {
    super(`Run ${runId}: this execution lost its lease to a newer one`);
  }
}

/**
 * Inside a transaction: holds the run row (FOR SHARE, so a concurrent claim waits for this
 * transaction) and checks that this execution still owns it. Every write of an execution starts
 * with it, which is what fences a stale worker.
 */
export async function assertLease(tx: EntityManager, lease: RunLease): Promise<void> {
  const [row] = await tx
    .getConnection()
    .execute<{ lease_epoch: number; status: string }[]>(
      'select lease_epoch, status from runs where id = ? for share',
      [lease.runId],
      'all',
      tx.getTransactionContext(),
    );
  if (!row || row.lease_epoch !== lease.epoch || row.status !== 'running')
    throw new RunLeaseLostError(lease.runId);
}
