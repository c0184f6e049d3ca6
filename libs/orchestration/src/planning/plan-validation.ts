import type { FailurePolicy } from '../entities/plan.entity';

/** A task as the planner (or a user's edit) writes it. */
export interface PlannedTaskInput {
  id: string;
  agent: string;
  instruction: string;
  depends_on: string[];
  writes?: string[];
  on_failure?: FailurePolicy;
}

export const MAX_PLAN_TASKS = 20;
const FAILURE_POLICIES: readonly FailurePolicy[] = ['fail_plan', 'skip', 'retry'];

/** The orchestrator's decision: hand the message to one agent, or run a plan. */
export type Decision =
  { decision: 'route'; agent: string } | { decision: 'plan'; tasks: PlannedTaskInput[] };

/**
 * The planner's answer as a decision, or why it is not one. Accepts `{decision: "route", agent}`,
 * `{decision: "plan", tasks}` and a bare `{tasks}` (a plan; one task without dependencies is a
 * route to its agent).
 */
export function parseDecision(text: string): Decision | { errors: string[] } {
  const body = text.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/i, '$1');
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { errors: ['the answer is not JSON'] };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return { errors: ['the answer must be a JSON object'] };
  const v = value as Record<string, unknown>;
  if (v.decision === 'route') {
    if (typeof v.agent !== 'string' || !v.agent) return { errors: ['route needs "agent"'] };
    return { decision: 'route', agent: v.agent };
  }
  if (!Array.isArray(v.tasks)) return { errors: ['a plan needs "tasks" (an array)'] };
  const errors: string[] = [];
  const tasks: PlannedTaskInput[] = [];
  v.tasks.forEach((raw, i) => {
    const t = raw as Record<string, unknown>;
    if (!t || typeof t !== 'object') return errors.push(`tasks[${i}] is not an object`);
    if (typeof t.id !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(t.id))
      return errors.push(`tasks[${i}].id must be 1-64 characters of [A-Za-z0-9_.-]`);
    if (typeof t.agent !== 'string' || !t.agent) return errors.push(`task ${t.id}: agent missing`);
    if (typeof t.instruction !== 'string' || !t.instruction.trim())
      return errors.push(`task ${t.id}: instruction missing`);
    const deps = t.depends_on ?? [];
    if (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string'))
      return errors.push(`task ${t.id}: depends_on must be an array of task ids`);
    const writes = t.writes ?? [];
    if (
      !Array.isArray(writes) ||
      writes.length > 20 ||
      writes.some((w) => typeof w !== 'string' || !w || w.length > 500)
    )
      return errors.push(`task ${t.id}: writes must be at most 20 globs of at most 500 characters`);
    const onFailure = (t.on_failure ?? 'fail_plan') as FailurePolicy;
    if (!FAILURE_POLICIES.includes(onFailure))
      return errors.push(`task ${t.id}: on_failure must be one of ${FAILURE_POLICIES.join(', ')}`);
    tasks.push({
      id: t.id,
      agent: t.agent,
      instruction: t.instruction.slice(0, 16_000),
      depends_on: deps as string[],
      writes: writes as string[],
      on_failure: onFailure,
    });
  });
  if (errors.length) return { errors };
  if (v.decision !== 'plan' && tasks.length === 1 && tasks[0].depends_on.length === 0)
    return { decision: 'route', agent: tasks[0].agent };
  return { decision: 'plan', tasks };
}

/**
 * What is wrong with a plan, if anything: at least one and at most MAX_PLAN_TASKS tasks, unique
 * ids, dependencies that exist, no cycle (named), agents of the project.
 */
export function validatePlan(tasks: PlannedTaskInput[], agents: readonly string[]): string[] {
  const errors: string[] = [];
  if (tasks.length === 0) errors.push('the plan has no tasks');
  if (tasks.length > MAX_PLAN_TASKS)
    errors.push(`the plan has ${tasks.length} tasks; at most ${MAX_PLAN_TASKS}`);
  const ids = new Set<string>();
  for (const t of tasks) {
    if (ids.has(t.id)) errors.push(`task id "${t.id}" is used twice`);
    ids.add(t.id);
  }
  for (const t of tasks) {
    if (!agents.includes(t.agent))
      errors.push(`task ${t.id}: no agent "${t.agent}" in this project`);
    for (const d of t.depends_on) {
      if (!ids.has(d)) errors.push(`task ${t.id} depends on "${d}", which is not a task`);
      if (d === t.id) errors.push(`task ${t.id} depends on itself`);
    }
  }
  const cycle = findCycle(tasks);
  if (cycle) errors.push(`the dependencies form a cycle: ${cycle.join(' -> ')}`);
  return errors;
}

/** A dependency cycle as a path (first id repeated at the end), or null. */
export function findCycle(tasks: PlannedTaskInput[]): string[] | null {
  const deps = new Map(tasks.map((t) => [t.id, t.depends_on]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | null => {
    if (state.get(id) === 'done' || !deps.has(id)) return null;
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const d of deps.get(id) ?? []) {
      const found = visit(d);
      if (found) return found;
    }
    path.pop();
    state.set(id, 'done');
    return null;
  };
  for (const t of tasks) {
    const found = visit(t.id);
    if (found) return found.reverse();
  }
  return null;
}
