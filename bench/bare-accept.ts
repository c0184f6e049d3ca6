/**
 * Baseline for the accept path (POST message -> 202): the SQL the product issues for a message,
 * statement for statement (see SendMessageHandler, RunLanes, MessageLog, RunLifecycle.enqueue),
 * on a plain `pg` Pool of the product's size, then BullMQ's queue.add with the product's job
 * options and the outbox delete. No framework, no ORM, no validation, no auth, no rate limit:
 *
 *   pool checkout; select project (the project access check)
 *   pool checkout; begin
 *     select session; select agent
 *     select pg_advisory_xact_lock(hashtextextended(lane, 0))
 *     select active runs of the lane
 *     update chat_sessions set last_seq = last_seq + 1 ... returning last_seq
 *     insert into messages ... returning created_at
 *     insert into runs ... returning created_at
 *     select the lane's head
 *     update runs set dispatches = dispatches + 1 ... returning dispatches
 *     insert into run_outbox ... on conflict ...
 *     select the run (the product refreshes it for the response)
 *   commit
 *   queue.add('run', {runId, dispatch}, {jobId: `${runId}.${dispatch}`})
 *   pool checkout; delete from run_outbox where run_id = ? and dispatch = ?
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Pool } from 'pg';

const ACTIVE = `('queued', 'running', 'awaiting_approval', 'awaiting_children')`;

export interface BareAccept {
  accept(input: {
    projectId: string;
    ownerId: string;
    sessionId: string;
    content: string;
  }): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

export function redisOptions(url: string) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379) };
}

export async function createBareAccept(opts: {
  databaseUrl: string;
  redisUrl: string;
  /** BullMQ prefix, e.g. `<bench prefix>bare`. */
  prefix: string;
  poolMax?: number;
}): Promise<BareAccept> {
  const pool = new Pool({ connectionString: opts.databaseUrl, max: opts.poolMax ?? 10 });
  // As the product's producer: fail fast while Redis is down (the outbox covers the gap).
  const queue = new Queue('agent-runs', {
    connection: {
      ...redisOptions(opts.redisUrl),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    },
    prefix: opts.prefix,
    defaultJobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 3_600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3_600 },
    },
  });
  await queue.waitUntilReady();

  async function accept({
    projectId,
    ownerId,
    sessionId,
    content,
  }: {
    projectId: string;
    ownerId: string;
    sessionId: string;
    content: string;
  }): Promise<{ status: number; body: unknown }> {
    const project = await pool.query('select * from projects where id = $1 and owner_id = $2', [
      projectId,
      ownerId,
    ]);
    if (!project.rows[0]) return { status: 404, body: { title: 'Not Found' } };
    const client = await pool.connect();
    let body: { message: Record<string, unknown>; run: Record<string, unknown> };
    let dispatch: number | null = null;
    let runId: string;
    try {
      await client.query('begin');
      const session = (
        await client.query(
          'select * from chat_sessions where id = $1 and project_id = $2 and owner_id = $3 limit 1',
          [sessionId, projectId, ownerId],
        )
      ).rows[0] as { id: string; current_agent_id: string } | undefined;
      if (!session) {
        await client.query('rollback');
        return { status: 404, body: { title: 'Not Found' } };
      }
      const agent = (
        await client.query(
          `select * from agents where project_id = $1 and owner_id = $2 and (id = $3 or name = $3::text)
           order by created_at asc, id asc limit 1`,
          [projectId, ownerId, session.current_agent_id],
        )
      ).rows[0] as { id: string; name: string };
      const lane = `session:${sessionId}`;
      await client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [lane]);
      await client.query(
        `select id, status, session_id from runs where lane = $1 and status in ${ACTIVE}
         order by lane_seq, created_at, id`,
        [lane],
      );
      const seq = (
        await client.query(
          'update chat_sessions set last_seq = last_seq + 1, updated_at = now() where id = $1 returning last_seq',
          [sessionId],
        )
      ).rows[0].last_seq as number;
      runId = randomUUID();
      const messageId = randomUUID();
      const message = (
        await client.query(
          `insert into messages (id, session_id, seq, role, content, agent_id, agent_name, run_id, step_seq, tool_calls, tool_call_id, metadata)
           values ($1, $2, $3, 'user', $4, $5, $6, $7, null, null, null, '{}') returning created_at`,
          [messageId, sessionId, seq, content, agent.id, agent.name, runId],
        )
      ).rows[0] as { created_at: Date };
      await client.query(
        `insert into runs (id, session_id, project_id, owner_id, agent_id, agent_name, kind, mode, lane, lane_seq, status, input_message_id, state, executions, lease_epoch, dispatches)
         values ($1, $2, $3, $4, $5, $6, 'agent', 'direct', $7, $8, 'queued', $9, '{}', 0, 0, 0) returning created_at`,
        [runId, sessionId, projectId, ownerId, agent.id, agent.name, lane, seq, messageId],
      );
      const head = (
        await client.query(
          `select id, status from runs where lane = $1 and status in ${ACTIVE}
           order by lane_seq, created_at, id limit 1`,
          [lane],
        )
      ).rows[0] as { id: string } | undefined;
      if (head?.id === runId) {
        dispatch = (
          await client.query(
            'update runs set dispatches = dispatches + 1 where id = $1 returning dispatches',
            [runId],
          )
        ).rows[0].dispatches as number;
        await client.query(
          `insert into run_outbox (run_id, dispatch) values ($1, $2)
           on conflict (run_id) do update set dispatch = excluded.dispatch, attempts = 0, created_at = now()`,
          [runId, dispatch],
        );
      }
      const run = (await client.query('select * from runs where id = $1 limit 1', [runId]))
        .rows[0] as Record<string, unknown>;
      await client.query('commit');
      body = {
        message: {
          id: messageId,
          session_id: sessionId,
          seq,
          role: 'user',
          content,
          agent_id: agent.id,
          agent_name: agent.name,
          run_id: runId,
          tool_calls: null,
          tool_call_id: null,
          metadata: {},
          created_at: message.created_at.toISOString(),
        },
        run: {
          id: run.id,
          session_id: run.session_id,
          agent_id: run.agent_id,
          agent_name: run.agent_name,
          parent_run_id: run.parent_run_id,
          kind: run.kind,
          mode: run.mode,
          status: run.status,
          lane: run.lane,
          input_message_id: run.input_message_id,
          output_message_id: run.output_message_id,
          usage: run.usage,
          error: run.error,
          warnings: [],
          executions: run.executions,
          created_at: (run.created_at as Date).toISOString(),
          started_at: null,
          finished_at: null,
        },
      };
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    if (dispatch !== null) {
      await queue.add('run', { runId, dispatch }, { jobId: `${runId}.${dispatch}` });
      await pool.query('delete from run_outbox where run_id = $1 and dispatch = $2', [
        runId,
        dispatch,
      ]);
    }
    return { status: 202, body };
  }

  return {
    accept,
    async close() {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await pool.end();
    },
  };
}
