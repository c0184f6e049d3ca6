import { Injectable } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ACTIVE_RUN_STATUSES_SQL } from '../entities/run.entity';

/** A run made runnable in a transaction: enqueue it once that transaction commits. */
export interface Dispatch {
  runId: string;
  dispatch: number;
}

/** A user message's run, as the sessions feature submits it. */
export interface NewRun {
  id: string;
  sessionId: string;
  projectId: string;
  ownerId: string;
  agentId: string;
  agentName: string;
  lane: string;
  laneSeq: number;
  inputMessageId: string;
}

/**
 * SQL: run `r` is its lane's head (no active run of the lane is before it, in lane order:
 * lane_seq, then created_at, then id).
 */
export const isLaneHeadSql = (r: string) =>
  `not exists (select 1 from runs h where h.lane = ${r}.lane and h.status in ${ACTIVE_RUN_STATUSES_SQL}
     and (h.lane_seq, h.created_at, h.id) < (${r}.lane_seq, ${r}.created_at, ${r}.id))`;

/**
 * Lanes order the runs that must not overlap: a session's conversation is one lane (FIFO by the
 * input message's seq), a child task is a lane of its own. Only a lane's head is ever handed to
 * the queue: the next run is dispatched by the transition that ends the head, in the same
 * transaction, so waiting runs hold no job, no slot and no timer. A parked head keeps its place.
 *
 * Every lane decision takes a transaction-scoped advisory lock on the lane, so a message admitted
 * while the head finishes is either seen by the finishing transaction or sees the head gone.
 */
@Injectable()
export class RunLanes {
  async lock(tx: EntityManager, lane: string): Promise<void> {
    await tx
      .getConnection()
      .execute(
        'select pg_advisory_xact_lock(hashtextextended(?, 0))',
        [lane],
        'all',
        tx.getTransactionContext(),
      );
  }

  /** The lane's head: its oldest run that is not final. */
  async head(tx: EntityManager, lane: string): Promise<{ id: string; status: string } | null> {
    const [head] = await tx.getConnection().execute<{ id: string; status: string }[]>(
      `select id, status from runs where lane = ? and status in ${ACTIVE_RUN_STATUSES_SQL}
         order by lane_seq, created_at, id limit 1`,
      [lane],
      'all',
      tx.getTransactionContext(),
    );
    return head ?? null;
  }

  /** Active runs of the lane other than `runId`, oldest first (for on_busy). */
  async active(
    tx: EntityManager,
    lane: string,
  ): Promise<{ id: string; status: string; session_id: string }[]> {
    return tx.getConnection().execute(
      `select id, status, session_id from runs where lane = ? and status in ${ACTIVE_RUN_STATUSES_SQL}
         order by lane_seq, created_at, id`,
      [lane],
      'all',
      tx.getTransactionContext(),
    );
  }

  /**
   * Inserts a queued agent run into its lane (lane locked by the caller, who knows whether the
   * lane has active runs). Into an idle lane it is the head: it is dispatched in the same
   * statement (dispatch 1 and its outbox row). Otherwise the lane decides.
   */
  async submit(
    tx: EntityManager,
    run: NewRun,
    laneIdle: boolean,
  ): Promise<{ run: Record<string, unknown>; dispatched: Dispatch | null }> {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    const values = [
      run.id,
      run.sessionId,
      run.projectId,
      run.ownerId,
      run.agentId,
      run.agentName,
      run.lane,
      run.laneSeq,
      run.inputMessageId,
    ];
    const insert = `insert into runs (id, session_id, project_id, owner_id, agent_id, agent_name, kind, mode,
        lane, lane_seq, input_message_id, state, dispatches)
      values (?, ?, ?, ?, ?, ?, 'agent', 'direct', ?, ?, ?, '{}', ${laneIdle ? 1 : 0}) returning *`;
    if (!laneIdle) {
      const [row] = await conn.execute<Record<string, unknown>[]>(insert, values, 'all', ctx);
      return { run: row, dispatched: await this.admit(tx, run.id, run.lane) };
    }
    const [row] = await conn.execute<Record<string, unknown>[]>(
      `with inserted as (${insert}),
       outboxed as (insert into run_outbox (run_id, dispatch) select id, 1 from inserted)
       select * from inserted`,
      values,
      'all',
      ctx,
    );
    return { run: row, dispatched: { runId: run.id, dispatch: 1 } };
  }

  /** After inserting a queued run (lane locked): dispatches it when it is the head. */
  private async admit(tx: EntityManager, runId: string, lane: string): Promise<Dispatch | null> {
    const head = await this.head(tx, lane);
    return head?.id === runId ? this.dispatch(tx, runId) : null;
  }

  /** After a head finished (lane locked): dispatches the next run if it is waiting to start. */
  async advance(tx: EntityManager, lane: string): Promise<Dispatch | null> {
    const head = await this.head(tx, lane);
    return head && head.status === 'queued' ? this.dispatch(tx, head.id) : null;
  }

  /** Hands the run to the queue (once committed): a new dispatch number and an outbox row. */
  async dispatch(tx: EntityManager, runId: string): Promise<Dispatch> {
    const [{ dispatch }] = await tx.getConnection().execute<{ dispatch: number }[]>(
      `with bumped as (
         update runs set dispatches = dispatches + 1 where id = ? returning id, dispatches
       )
       insert into run_outbox (run_id, dispatch) select id, dispatches from bumped
       on conflict (run_id) do update set dispatch = excluded.dispatch, attempts = 0, created_at = now()
       returning dispatch`,
      [runId],
      'all',
      tx.getTransactionContext(),
    );
    return { runId, dispatch };
  }
}
