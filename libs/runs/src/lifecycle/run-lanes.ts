import { Injectable } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ACTIVE_RUN_STATUSES_SQL, RunKind, RunMode } from '../entities/run.entity';

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
  /** Default: an agent's direct run. */
  kind?: RunKind;
  mode?: RunMode;
}

/** A run a worker starts for another run: a delegated task, or a switch's continuation. */
export interface SpawnedRun {
  id: string;
  sessionId: string;
  projectId: string;
  ownerId: string;
  agentId: string;
  agentName: string;
  kind: RunKind;
  mode: RunMode;
  lane: string;
  laneSeq: number | string;
  parentRunId?: string | null;
  inputMessageId?: string | null;
  input: Record<string, unknown>;
  /** Reserved, not dispatched until `release` (a held head blocks its lane). */
  held?: boolean;
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

  /** Locks the lane of a run (which never changes); the lane, or null when the run is gone. */
  async lockOfRun(tx: EntityManager, runId: string): Promise<string | null> {
    const [row] = await tx
      .getConnection()
      .execute<{ lane: string }[]>(
        'select lane from runs where id = ?',
        [runId],
        'all',
        tx.getTransactionContext(),
      );
    if (!row) return null;
    await this.lock(tx, row.lane);
    return row.lane;
  }

  /** The lane's head: its oldest run that is not final. */
  async head(
    tx: EntityManager,
    lane: string,
  ): Promise<{ id: string; status: string; held: boolean } | null> {
    const [head] = await tx
      .getConnection()
      .execute<{ id: string; status: string; held: boolean }[]>(
        `select id, status, held from runs where lane = ? and status in ${ACTIVE_RUN_STATUSES_SQL}
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
      run.kind ?? RunKind.Agent,
      run.mode ?? RunMode.Direct,
      run.laneSeq,
      run.inputMessageId,
    ];
    const insert = `insert into runs (id, session_id, project_id, owner_id, agent_id, agent_name, lane,
        kind, mode, lane_seq, input_message_id, state, dispatches)
      values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ${laneIdle ? 1 : 0}) returning *`;
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
    return head?.id === runId && !head.held ? this.dispatch(tx, runId) : null;
  }

  /** After a head finished (lane locked): dispatches the next run if it is waiting to start. */
  async advance(tx: EntityManager, lane: string): Promise<Dispatch | null> {
    const head = await this.head(tx, lane);
    return head && head.status === 'queued' && !head.held ? this.dispatch(tx, head.id) : null;
  }

  /**
   * Inserts a run on behalf of another (locks its lane): a child task in a lane of its own is
   * dispatched at once; a held run waits for `release`. Returns the dispatch to enqueue after commit.
   */
  async spawn(tx: EntityManager, run: SpawnedRun): Promise<Dispatch | null> {
    await this.lock(tx, run.lane);
    await tx.getConnection().execute(
      `insert into runs (id, session_id, project_id, owner_id, agent_id, agent_name, kind, mode, lane,
         lane_seq, parent_run_id, input_message_id, input, state, held, dispatches)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, '{}', ?, 0)`,
      [
        run.id,
        run.sessionId,
        run.projectId,
        run.ownerId,
        run.agentId,
        run.agentName,
        run.kind,
        run.mode,
        run.lane,
        run.laneSeq,
        run.parentRunId ?? null,
        run.inputMessageId ?? null,
        JSON.stringify(run.input),
        run.held ?? false,
      ],
      'run',
      tx.getTransactionContext(),
    );
    return run.held ? null : this.admit(tx, run.id, run.lane);
  }

  /**
   * How many switch continuations answer this input message in the lane (a switch chain's length
   * so far): the runs spawned with `input.switch` for it.
   */
  async continuations(tx: EntityManager, lane: string, inputMessageId: string): Promise<number> {
    const [{ n }] = await tx
      .getConnection()
      .execute<{ n: number }[]>(
        `select count(*)::int as n from runs where lane = ? and input_message_id = ? and (input -> 'switch') is not null`,
        [lane, inputMessageId],
        'all',
        tx.getTransactionContext(),
      );
    return n;
  }

  /** The run and the runs that delegated to it, child first: [{id, agent_id}] (depth, cycles). */
  async ancestry(tx: EntityManager, runId: string): Promise<{ id: string; agent_id: string }[]> {
    return tx.getConnection().execute(
      `with recursive chain(id, parent_run_id, agent_id, depth) as (
         select id, parent_run_id, agent_id, 0 from runs where id = ?
         union all
         select r.id, r.parent_run_id, r.agent_id, c.depth + 1
           from runs r join chain c on r.id = c.parent_run_id where c.depth < 64
       ) select id, agent_id from chain order by depth`,
      [runId],
      'all',
      tx.getTransactionContext(),
    );
  }

  /** Lets a held run go (lane locked here): dispatched if it is the head. False if not held. */
  async release(
    tx: EntityManager,
    runId: string,
  ): Promise<{ released: boolean; dispatched: Dispatch | null }> {
    const lane = await this.lockOfRun(tx, runId);
    if (!lane) return { released: false, dispatched: null };
    const updated = await tx
      .getConnection()
      .execute<{ id: string }[]>(
        `update runs set held = false where id = ? and held and status = 'queued' returning id`,
        [runId],
        'all',
        tx.getTransactionContext(),
      );
    if (!updated.length) return { released: false, dispatched: null };
    return { released: true, dispatched: await this.advance(tx, lane) };
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
