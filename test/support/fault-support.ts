import { appendFileSync } from 'node:fs';
import { Pool } from 'pg';
import { type Http, type TestUser } from './test-app';
import { sendMessage } from './sessions-helpers';
import { withDeadline } from './child-process';
import type { FleetWorker } from './worker-fleet';

/**
 * Prints `FAULT-METRICS <name> <json>` (and appends it to FAULT_METRICS_FILE when set). Call it
 * before asserting, so the numbers are there even when the test fails.
 */
export function faultMetrics(name: string, metrics: Record<string, unknown>): void {
  const line = `FAULT-METRICS ${name} ${JSON.stringify(metrics)}\n`;
  process.stdout.write(line);
  if (process.env.FAULT_METRICS_FILE) appendFileSync(process.env.FAULT_METRICS_FILE, line);
}

/** An integer knob from the environment (deadlines, loads), with its default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got "${raw}"`);
  return value;
}

export interface RunRow {
  id: string;
  session_id: string;
  agent_id: string;
  status: string;
  input_message_id: string;
  executions: number;
  worker_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

/**
 * The test's own read-only view of the product database (its own small pool, not the API's, so
 * polling never competes with the product for connections and survives an outage).
 */
export class RunsDb {
  private readonly pool: Pool;

  constructor(url: string) {
    this.pool = new Pool({
      connectionString: url,
      max: 2,
      connectionTimeoutMillis: 2_000,
      idleTimeoutMillis: 1_000,
    });
    // A server restart breaks idle connections; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(sql, params)).rows as T[];
  }

  rows(ids: string[]): Promise<RunRow[]> {
    return this.query<RunRow>(
      `select id, session_id, agent_id, status, input_message_id, executions, worker_id,
              created_at, started_at, finished_at
       from runs where id = any($1::uuid[]) order by created_at, id`,
      [ids],
    );
  }

  /** Runs by status, e.g. { completed: 118, running: 2 }. */
  async statusCounts(ids: string[]): Promise<Record<string, number>> {
    const rows = await this.query<{ status: string; n: number }>(
      `select status, count(*)::int as n from runs where id = any($1::uuid[]) group by status`,
      [ids],
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /** Assistant replies per run (runs without a reply are absent). */
  async replyCounts(ids: string[]): Promise<Map<string, number>> {
    const rows = await this.query<{ run_id: string; n: number }>(
      `select run_id, count(*)::int as n from messages
       where role = 'assistant' and run_id = any($1::uuid[]) group by run_id`,
      [ids],
    );
    return new Map(rows.map((r) => [r.run_id, r.n]));
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** Outcome counts of a set of runs: lost = not completed, duplicated = more than one reply. */
export async function outcome(
  db: RunsDb,
  ids: string[],
): Promise<{
  runs: number;
  completed: number;
  failed: number;
  lost: number;
  duplicated: number;
  without_reply: number;
  by_status: Record<string, number>;
}> {
  const byStatus = await db.statusCounts(ids);
  const replies = await db.replyCounts(ids);
  const completedIds = (await db.rows(ids))
    .filter((r) => r.status === 'completed')
    .map((r) => r.id);
  return {
    runs: ids.length,
    completed: byStatus.completed ?? 0,
    failed: byStatus.failed ?? 0,
    lost: ids.length - (byStatus.completed ?? 0),
    duplicated: [...replies.values()].filter((n) => n > 1).length,
    without_reply: completedIds.filter((id) => !replies.has(id)).length,
    by_status: byStatus,
  };
}

export interface SentRun {
  sessionId: string;
  /** Position of the message in its session (0-based, in sending order). */
  index: number;
  runId: string;
  messageId: string;
  seq: number;
  sentAt: number;
}

/**
 * Sends `perSession` messages to each session: sessions in parallel, each session's messages one
 * after the other (each POST answered 202 before the next), so per-session order is known.
 */
export async function sendInOrder(
  http: Http,
  user: TestUser,
  projectId: string,
  sessionIds: string[],
  perSession: number,
  content: (sessionIndex: number, index: number) => string,
): Promise<SentRun[]> {
  const sent: SentRun[] = [];
  await Promise.all(
    sessionIds.map(async (sid, s) => {
      for (let i = 0; i < perSession; i++) {
        const { message, run } = await sendMessage(http, user, projectId, sid, {
          content: content(s, i),
        });
        sent.push({
          sessionId: sid,
          index: i,
          runId: run.id,
          messageId: message.id,
          seq: message.seq,
          sentAt: Date.now(),
        });
      }
    }),
  );
  return sent;
}

/** Raises (or sets) the concurrency limit of every agent of the project; returns name -> id. */
export async function setAgentLimits(
  http: Http,
  user: TestUser,
  projectId: string,
  limit: number,
  only?: string[],
): Promise<Record<string, string>> {
  const agents = (await http.get(`/v1/my/projects/${projectId}/agents`).set(user.auth).expect(200))
    .body.items as { id: string; name: string }[];
  const ids: Record<string, string> = {};
  for (const agent of agents) {
    ids[agent.name] = agent.id;
    if (only && !only.includes(agent.name)) continue;
    await http
      .patch(`/v1/my/projects/${projectId}/agents/${agent.id}`)
      .set(user.auth)
      .send({ concurrency_limit: limit })
      .expect(200);
  }
  return ids;
}

export const seconds = (ms: number | null | undefined): number | null =>
  ms === null || ms === undefined ? null : Math.round(ms / 100) / 10;

/**
 * Counts what the in-process API writes to console.error/console.warn (BullMQ and ioredis print
 * connection errors there when Redis is down) instead of flooding the test output; `top()` lists
 * the most frequent first lines. Nothing is faked: the product still calls the real console API.
 */
export function captureConsole(): {
  count: () => number;
  top: (n?: number) => { line: string; count: number }[];
  restore: () => void;
} {
  const lines = new Map<string, number>();
  let total = 0;
  const record = (...args: unknown[]) => {
    total++;
    const first = args
      .map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a)))
      .join(' ')
      .split('\n')[0]
      .replace(/\d+/g, 'N')
      .slice(0, 200);
    if (lines.has(first) || lines.size < 100) lines.set(first, (lines.get(first) ?? 0) + 1);
  };
  const spies = [
    jest.spyOn(console, 'error').mockImplementation(record),
    jest.spyOn(console, 'warn').mockImplementation(record),
  ];
  return {
    count: () => total,
    top: (n = 5) =>
      [...lines.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([line, count]) => ({ line, count })),
    restore: () => spies.forEach((s) => s.mockRestore()),
  };
}

/** Waits for a worker started with CODELAB_CRASH_AT=`point` to die there, by SIGKILL. */
export async function expectKilledAt(worker: FleetWorker, point: string): Promise<void> {
  const code = await withDeadline(`the worker to die at ${point}`, worker.app.exited, 60_000);
  expect({ point, signal: worker.app.child.signalCode, code }).toEqual({
    point,
    signal: 'SIGKILL',
    code: null,
  });
}
