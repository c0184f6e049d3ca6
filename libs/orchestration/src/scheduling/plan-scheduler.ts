import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  type Dispatch,
  FINAL_RUN_STATUSES,
  RunKind,
  RunLanes,
  RunLifecycle,
  RunMode,
  RunStatus,
  type Transitioned,
} from '@codelab/runs';
import {
  FINAL_TASK_STATUSES,
  type FailurePolicy,
  type PlanStatus,
  type TaskStatus,
} from '../entities/plan.entity';

/** How many times a task with on_failure=retry runs at most. */
export const MAX_TASK_ATTEMPTS = 3;
/** How much of a dependency's result a task's instruction carries. */
const RESULT_IN_INPUT_CHARS = 4_000;
/** How much of a task's result the plan keeps (the child run keeps it whole). */
const RESULT_KEPT_CHARS = 16_000;

interface TaskRow {
  plan_id: string;
  task_id: string;
  position: number;
  agent_id: string;
  agent_name: string;
  instruction: string;
  depends_on: string[];
  writes: string[];
  on_failure: FailurePolicy;
  status: TaskStatus;
  attempts: number;
  child_run_id: string | null;
  result: unknown;
  error: { code: string; message: string } | null;
  ready_at: Date | null;
}

interface PlanRow {
  id: string;
  run_id: string;
  session_id: string;
  project_id: string;
  owner_id: string;
  status: PlanStatus;
}

/** A stream event the scheduler reports (published after its transaction commits). */
export interface TaskEvent {
  type: 'task_started' | 'task_completed' | 'task_failed' | 'task_skipped';
  taskId: string;
  payload: Record<string, unknown>;
}

export interface Advanced {
  plan: PlanRow;
  status: PlanStatus;
  terminal: boolean;
  dispatched: Dispatch[];
  transitions: Transitioned[];
  signals: string[];
  events: TaskEvent[];
  /** Seconds from a task's last dependency finishing to its start, for the tasks started. */
  startLatencies: number[];
}

/** A glob's literal part, up to its first wildcard: every path it matches starts with it. */
const literalPrefix = (glob: string) => {
  const at = glob.search(/[*?[\]{}()!+@]/);
  return at < 0 ? glob : glob.slice(0, at);
};

/**
 * Whether two tasks' globs may name a common path. Conservative: globs whose literal prefixes
 * are prefixes of one another count as overlapping (e.g. "src/a/**" and "src/**.ts");
 * tasks wrongly found overlapping only run one after the other.
 */
export const overlaps = (a: readonly string[], b: readonly string[]) =>
  a.some((x) =>
    b.some((y) => {
      const [p, q] = [literalPrefix(x), literalPrefix(y)];
      if (p === x && q === y) return x === y;
      if (p === x) return x.startsWith(q);
      if (q === y) return y.startsWith(p);
      return p.startsWith(q) || q.startsWith(p);
    }),
  );

const clip = (value: unknown, max: number) => {
  const text = typeof value === 'string' ? value : JSON.stringify(value ?? null);
  return text.length <= max
    ? text
    : `${text.slice(0, max)} [... ${text.length - max} more characters]`;
};

/**
 * The plan scheduler: one idempotent step, `advance`, under the plan's row lock, called by the
 * saga whenever a task's child run ends and by the orchestration run whenever it executes. It
 * settles tasks whose child ended (completed; or failed: retry / skip / fail_plan), skips the
 * dependants of failed tasks, starts every task whose dependencies are done as a child run at
 * once (no rounds; tasks whose `writes` overlap a running task's wait), and says whether the plan
 * is over. Each effect happens once: task rows change only from the state the lock shows.
 */
@Injectable()
export class PlanScheduler {
  constructor(
    private readonly lanes: RunLanes,
    private readonly lifecycle: RunLifecycle,
  ) {}

  async advance(tx: EntityManager, planId: string): Promise<Advanced | null> {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    // The orchestration run's lane first: the order of every path that also locks the run (its
    // own executions, cancellation), then the plan.
    const [owner] = await conn.execute<{ run_id: string }[]>(
      'select run_id from plans where id = ?',
      [planId],
      'all',
      ctx,
    );
    if (!owner) return null;
    await this.lanes.lockOfRun(tx, owner.run_id);
    const [plan] = await conn.execute<PlanRow[]>(
      'select * from plans where id = ? for update',
      [planId],
      'all',
      ctx,
    );
    if (!plan) return null;
    const out: Advanced = {
      plan,
      status: plan.status,
      terminal: plan.status !== 'running',
      dispatched: [],
      transitions: [],
      signals: [],
      events: [],
      startLatencies: [],
    };
    if (plan.status !== 'running') return out;
    const tasks = await conn.execute<TaskRow[]>(
      'select * from plan_tasks where plan_id = ? order by position',
      [planId],
      'all',
      ctx,
    );
    const children = await this.lifecycle.statuses(
      tx,
      tasks.filter((t) => t.child_run_id).map((t) => t.child_run_id!),
    );
    const childOf = new Map(children.map((c) => [c.id, c]));
    const [{ status: parentStatus }] = await this.lifecycle.statuses(tx, [plan.run_id]);
    const set = async (task: TaskRow, changes: Partial<TaskRow> & { finished?: boolean }) => {
      const { finished, ...fields } = changes;
      Object.assign(task, fields);
      const cols = Object.keys(fields);
      await conn.execute(
        `update plan_tasks set ${cols
          .map(
            (c) =>
              `${c} = ?${['result', 'error', 'depends_on', 'writes'].includes(c) ? '::jsonb' : ''}`,
          )
          .join(', ')}${finished ? ', finished_at = now()' : ''} where plan_id = ? and task_id = ?`,
        [
          ...cols.map((c) => {
            const v = (fields as Record<string, unknown>)[c];
            return ['result', 'error'].includes(c) ? (v === null ? null : JSON.stringify(v)) : v;
          }),
          planId,
          task.task_id,
        ],
        'run',
        ctx,
      );
    };

    // The orchestration run itself ended (cancelled, failed): the plan goes with it.
    if (FINAL_RUN_STATUSES.includes(parentStatus)) {
      for (const t of tasks.filter((t) => !FINAL_TASK_STATUSES.includes(t.status)))
        await set(t, {
          status: 'cancelled',
          error: { code: 'PLAN_CANCELLED', message: 'The orchestration run ended' },
          finished: true,
        });
      await this.finish(tx, plan, 'cancelled');
      return { ...out, status: 'cancelled', terminal: true };
    }

    let failPlan = false;
    // 1. Tasks whose child run ended.
    for (const t of tasks.filter((t) => t.status === 'running' && t.child_run_id)) {
      const child = childOf.get(t.child_run_id!);
      if (!child || !FINAL_RUN_STATUSES.includes(child.status)) continue;
      if (child.status === RunStatus.Completed) {
        await set(t, {
          status: 'completed',
          result: clip(child.state?.result ?? '', RESULT_KEPT_CHARS),
          error: null,
          finished: true,
        });
        out.events.push({
          type: 'task_completed',
          taskId: t.task_id,
          payload: { child_run_id: child.id },
        });
        continue;
      }
      const error = child.error ?? {
        code: 'TASK_FAILED',
        message: `The task run ended ${child.status}`,
      };
      if (t.on_failure === 'retry' && t.attempts < MAX_TASK_ATTEMPTS) {
        await set(t, { status: 'pending', error });
        out.events.push({
          type: 'task_failed',
          taskId: t.task_id,
          payload: { error, attempt: t.attempts, retrying: true },
        });
        continue;
      }
      if (t.on_failure === 'skip') {
        await set(t, {
          status: 'skipped',
          error: { code: 'TASK_SKIPPED', message: `Failed and skipped: ${error.message}` },
          finished: true,
        });
        out.events.push({ type: 'task_skipped', taskId: t.task_id, payload: { error } });
        continue;
      }
      await set(t, { status: 'failed', error, finished: true });
      out.events.push({
        type: 'task_failed',
        taskId: t.task_id,
        payload: { error, retrying: false },
      });
      if (t.on_failure === 'fail_plan') failPlan = true;
    }

    const byId = new Map(tasks.map((t) => [t.task_id, t]));
    if (failPlan) {
      // Stop everything: running children are cancelled, the rest never starts.
      for (const t of tasks.filter((t) => !FINAL_TASK_STATUSES.includes(t.status))) {
        if (t.status === 'running' && t.child_run_id) {
          const decision = await this.lifecycle.requestCancel(tx, t.child_run_id, 'plan_failed', {
            code: 'PLAN_FAILED',
            message: 'Another task of the plan failed (on_failure: fail_plan)',
          });
          if (decision && 'cancelled' in decision) out.transitions.push(decision.cancelled);
          else if (decision) out.signals.push(decision.signal);
        }
        await set(t, {
          status: t.status === 'running' ? 'cancelled' : 'skipped',
          error: { code: 'PLAN_FAILED', message: 'Another task of the plan failed' },
          finished: true,
        });
        out.events.push({
          type: 'task_skipped',
          taskId: t.task_id,
          payload: { reason: 'plan_failed' },
        });
      }
      await this.finish(tx, plan, 'failed');
      return { ...out, status: 'failed', terminal: true };
    }

    // 2. Dependants of failed tasks are skipped (transitively); a skipped-by-policy task's
    // dependants run, told it was skipped.
    const blocked = (t: TaskRow) =>
      t.depends_on.some((d) => {
        const dep = byId.get(d);
        return (
          dep?.status === 'failed' ||
          dep?.status === 'cancelled' ||
          (dep?.status === 'skipped' && dep.error?.code !== 'TASK_SKIPPED')
        );
      });
    for (let changed = true; changed;) {
      changed = false;
      for (const t of tasks.filter((t) => t.status === 'pending' && blocked(t))) {
        await set(t, {
          status: 'skipped',
          error: { code: 'DEPENDENCY_FAILED', message: 'A task it depends on did not complete' },
          finished: true,
        });
        out.events.push({
          type: 'task_skipped',
          taskId: t.task_id,
          payload: { reason: 'dependency_failed' },
        });
        changed = true;
      }
    }

    // 3. Start every task whose dependencies are done, unless its writes overlap a running one's.
    const done = (d: string) => {
      const dep = byId.get(d);
      return (
        dep?.status === 'completed' ||
        (dep?.status === 'skipped' && dep.error?.code === 'TASK_SKIPPED')
      );
    };
    for (const t of tasks.filter((t) => t.status === 'pending' && t.depends_on.every(done))) {
      if (!t.ready_at) {
        const [{ now }] = await conn.execute<{ now: Date }[]>(
          'select now() as now',
          [],
          'all',
          ctx,
        );
        await set(t, { ready_at: now });
      }
      const writing = tasks.filter((o) => o !== t && o.status === 'running' && o.writes.length);
      if (t.writes.length && writing.some((o) => overlaps(o.writes, t.writes))) continue;
      const childId = randomUUID();
      const inputs = t.depends_on.map((d) => {
        const dep = byId.get(d)!;
        return dep.status === 'completed'
          ? `- ${d} (${dep.agent_name}): ${clip(dep.result, RESULT_IN_INPUT_CHARS)}`
          : `- ${d} (${dep.agent_name}) was skipped: ${dep.error?.message ?? ''}`;
      });
      const instruction = inputs.length
        ? `${t.instruction}\n\nResults of the tasks this one depends on:\n${inputs.join('\n')}`
        : t.instruction;
      const dispatched = await this.lanes.spawn(tx, {
        id: childId,
        sessionId: plan.session_id,
        projectId: plan.project_id,
        ownerId: plan.owner_id,
        agentId: t.agent_id,
        agentName: t.agent_name,
        kind: RunKind.Task,
        mode: RunMode.Task,
        lane: `run:${childId}`,
        laneSeq: 0,
        parentRunId: plan.run_id,
        input: {
          task: {
            instruction,
            returns: null,
            from_agent_id: plan.project_id,
            from_agent_name: 'Orchestrator',
            parent_step: 0,
            attempt: t.attempts + 1,
          },
          plan_task: { plan_id: planId, task_id: t.task_id, attempt: t.attempts + 1 },
        },
      });
      if (dispatched) out.dispatched.push(dispatched);
      const [{ latency }] = await conn.execute<{ latency: number }[]>(
        `update plan_tasks set status = 'running', attempts = attempts + 1, child_run_id = ?,
           started_at = now(), finished_at = null
         where plan_id = ? and task_id = ?
         returning extract(epoch from now() - coalesce(ready_at, now()))::float8 as latency`,
        [childId, planId, t.task_id],
        'all',
        ctx,
      );
      t.status = 'running';
      t.attempts += 1;
      t.child_run_id = childId;
      out.startLatencies.push(latency);
      out.events.push({
        type: 'task_started',
        taskId: t.task_id,
        payload: { child_run_id: childId, agent: t.agent_name, attempt: t.attempts },
      });
    }

    // 4. Over when every task is final.
    if (tasks.every((t) => FINAL_TASK_STATUSES.includes(t.status))) {
      const status: PlanStatus = tasks.some((t) => t.status === 'failed') ? 'failed' : 'completed';
      await this.finish(tx, plan, status);
      return { ...out, status, terminal: true };
    }
    return out;
  }

  private async finish(tx: EntityManager, plan: PlanRow, status: PlanStatus): Promise<void> {
    await tx
      .getConnection()
      .execute(
        `update plans set status = ?, finished_at = now() where id = ? and status = 'running'`,
        [status, plan.id],
        'run',
        tx.getTransactionContext(),
      );
  }
}
