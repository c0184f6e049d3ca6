import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import canonicalize from 'canonicalize';
import { RunStep, type StepEffect, type StepKind, StepStatus } from '../entities/run-step.entity';
import { assertLease, type RunLease, RunLeaseLostError } from './run-lease';

/** A step result is kept whole up to this size (JSON); beyond, a preview is kept. */
export const MAX_STEP_RESULT_BYTES = 1024 * 1024;

export interface StepStart {
  seq: number;
  kind: StepKind;
  name: string;
  toolCallId?: string | null;
  args?: Record<string, unknown> | null;
  effect?: StepEffect;
  /**
   * What a change-making step is about to do, stored with the step before it runs (in `result`,
   * as `{ intent }`, until the outcome replaces it): crash recovery reads it back.
   */
  intent?: Record<string, unknown>;
}

export interface StepFinish {
  status: StepStatus;
  result?: unknown;
  error?: { code: string; message: string } | null;
  usage?: { input_tokens: number; output_tokens: number } | null;
  messageId?: string | null;
}

/** SHA-256 of the RFC 8785 (JCS) canonical JSON: equal arguments, equal digest. */
export function argsDigest(args: unknown): string {
  return createHash('sha256')
    .update(canonicalize(args ?? null) ?? 'null')
    .digest('hex');
}

/** Keeps a result as is when small, else a bounded preview that says so. */
export function boundResult(result: unknown): Record<string, unknown> | null {
  if (result === undefined || result === null) return null;
  const json = JSON.stringify(result);
  if (Buffer.byteLength(json) <= MAX_STEP_RESULT_BYTES)
    return typeof result === 'object' && !Array.isArray(result)
      ? (result as Record<string, unknown>)
      : { value: result };
  return {
    truncated: true,
    bytes: Buffer.byteLength(json),
    preview: Buffer.from(json).subarray(0, MAX_STEP_RESULT_BYTES).toString('utf8'),
  };
}

declare const fencedBrand: unique symbol;
/** A transaction from `StepJournal.fenced()`: the lease was asserted in it (and stays locked). */
export type FencedTx = EntityManager & { readonly [fencedBrand]: true };

/**
 * One execution's view of a run's journal. Each write is fenced by the execution's lease (and
 * can join the caller's transaction, so a step's outcome and the message it produced commit
 * together). Step seqs are chosen by the handler deterministically from the journal itself, so a
 * resumed execution addresses the same rows.
 */
export class StepJournal {
  constructor(
    private readonly em: EntityManager,
    readonly lease: RunLease,
  ) {}

  async list(): Promise<RunStep[]> {
    return this.em
      .fork()
      .find(
        RunStep,
        { runId: this.lease.runId },
        { orderBy: { seq: 'asc' }, disableIdentityMap: true },
      );
  }

  /**
   * A transaction in which this execution still owns the run, or RunLeaseLostError. With `lane`,
   * that lane is locked first: the order every path takes (lane, then runs, then the session's
   * counter), for work that touches a lane (a hand-off spawning a run).
   */
  fenced<T>(work: (tx: FencedTx) => Promise<T>, options: { lane?: string } = {}): Promise<T> {
    return this.em.fork().transactional(async (tx) => {
      if (options.lane)
        await tx
          .getConnection()
          .execute(
            'select pg_advisory_xact_lock(hashtextextended(?, 0))',
            [options.lane],
            'all',
            tx.getTransactionContext(),
          );
      await assertLease(tx, this.lease);
      return work(tx as FencedTx);
    });
  }

  /**
   * Journals a step before it runs. A step left `started` by an earlier execution is taken over
   * (attempts + 1); a finished one is left as is: `fresh: false`.
   */
  async start(step: StepStart, tx?: FencedTx): Promise<{ fresh: boolean }> {
    const write = async (t: EntityManager) => {
      const conn = t.getConnection();
      const ctx = t.getTransactionContext();
      const [row] = await conn.execute<{ seq: number }[]>(
        `insert into run_steps (run_id, seq, kind, name, tool_call_id, args, args_digest, effect, status, lease_epoch, attempts, result)
         values (?, ?, ?, ?, ?, ?::jsonb, ?, ?, 'started', ?, 1, ?::jsonb)
         on conflict (run_id, seq) do update set attempts = run_steps.attempts + 1,
           lease_epoch = excluded.lease_epoch, started_at = now(), finished_at = null
         where run_steps.status = 'started'
         returning seq`,
        [
          ...this.stepValues(step),
          this.lease.epoch,
          step.intent ? JSON.stringify({ intent: step.intent }) : null,
        ],
        'all',
        ctx,
      );
      return { fresh: row !== undefined };
    };
    return tx ? write(tx) : this.fenced(write);
  }

  /**
   * Starts a step that was `awaiting` (its approval came): the arguments it runs with (the
   * approved ones) and its plan are journalled; `fresh: false` if it is no longer awaiting.
   */
  async resumeAwaiting(step: StepStart, tx?: FencedTx): Promise<{ fresh: boolean }> {
    const write = async (t: EntityManager) => {
      const args = step.args ?? null;
      const [row] = await t.getConnection().execute<{ seq: number }[]>(
        `update run_steps set status = 'started', attempts = attempts + 1, lease_epoch = ?,
           started_at = now(), finished_at = null, args = ?::jsonb, args_digest = ?, result = ?::jsonb
         where run_id = ? and seq = ? and status = 'awaiting' returning seq`,
        [
          this.lease.epoch,
          args === null ? null : JSON.stringify(args),
          args === null ? null : argsDigest(args),
          step.intent ? JSON.stringify({ intent: step.intent }) : null,
          this.lease.runId,
          step.seq,
        ],
        'all',
        t.getTransactionContext(),
      );
      return { fresh: row !== undefined };
    };
    return tx ? write(tx) : this.fenced(write);
  }

  /**
   * Journals a step that is decided without running (refused by the policy, unavailable, parked
   * for approval): written once, already in its final (or awaiting) state. Idempotent.
   */
  async record(step: StepStart, outcome: StepFinish, tx: FencedTx): Promise<void> {
    const ended = outcome.status !== StepStatus.Awaiting;
    await tx.getConnection().execute(
      `insert into run_steps (run_id, seq, kind, name, tool_call_id, args, args_digest, effect, status,
         result, error, message_id, lease_epoch, attempts, finished_at)
       values (?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?, 0, ${ended ? 'now()' : 'null'})
       on conflict (run_id, seq) do nothing`,
      [
        ...this.stepValues(step),
        outcome.status,
        jsonOrNull(boundResult(outcome.result)),
        jsonOrNull(outcome.error),
        outcome.messageId ?? null,
        this.lease.epoch,
      ],
      'run',
      tx.getTransactionContext(),
    );
  }

  /** Journals how a started (or awaiting) step ended; RunLeaseLostError if it is not ours to end. */
  async finish(seq: number, outcome: StepFinish, tx?: FencedTx): Promise<void> {
    const write = async (t: EntityManager) => {
      const ended = outcome.status !== StepStatus.Awaiting;
      const [row] = await t.getConnection().execute<{ seq: number }[]>(
        `update run_steps set status = ?, result = ?::jsonb, error = ?::jsonb, usage = ?::jsonb,
           message_id = coalesce(?, message_id), lease_epoch = ?,
           finished_at = ${ended ? 'now()' : 'null'}
         where run_id = ? and seq = ? and status in ('started', 'awaiting') returning seq`,
        [
          outcome.status,
          jsonOrNull(boundResult(outcome.result)),
          jsonOrNull(outcome.error),
          jsonOrNull(outcome.usage),
          outcome.messageId ?? null,
          this.lease.epoch,
          this.lease.runId,
          seq,
        ],
        'all',
        t.getTransactionContext(),
      );
      if (!row) throw new RunLeaseLostError(this.lease.runId);
    };
    return tx ? write(tx) : this.fenced(write);
  }

  /** run_id, seq, kind, name, tool_call_id, args, args_digest, effect: a step's identity. */
  private stepValues(step: StepStart): unknown[] {
    const args = step.args ?? null;
    return [
      this.lease.runId,
      step.seq,
      step.kind,
      step.name,
      step.toolCallId ?? null,
      args === null ? null : JSON.stringify(args),
      args === null ? null : argsDigest(args),
      step.effect ?? 'none',
    ];
  }
}

const jsonOrNull = (value: unknown) =>
  value === undefined || value === null ? null : JSON.stringify(value);
