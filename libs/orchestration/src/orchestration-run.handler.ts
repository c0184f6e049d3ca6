import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus, EventBus, QueryBus } from '@nestjs/cqrs';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';
import {
  APP_CONFIG,
  type AppConfig,
  crashPoint,
  ResourceNotFoundError,
  toStorable,
} from '@codelab/platform';
import { type Agent, ListAgentsQuery } from '@codelab/agents';
import {
  ApprovalDeadlines,
  ApprovalKind,
  ApprovalRequests,
  ApprovalStatus,
  GetStepApprovalQuery,
  refusalOf,
  toApprovalDto,
} from '@codelab/approvals';
import { GetOwnedProjectQuery, settingsOf } from '@codelab/projects';
import { SwitchAgentCommand, SwitchReason } from '@codelab/handoffs';
import {
  AGENTS_MARKER,
  ChatModelFactory,
  LlmError,
  ModelCaller,
  PLANNER_MARKER,
} from '@codelab/llm';
import {
  type Preparation,
  type Run,
  type RunContext,
  type RunHandler,
  RunCancellation,
  RunKind,
  RunLanes,
  RunLifecycle,
  RunMode,
  type RunOutcome,
  StepKind,
  StepStatus,
} from '@codelab/runs';
import { GetOwnedSessionQuery, MessageLog, MessageRole, messageDtoOf } from '@codelab/sessions';
import { SessionEvent } from '@codelab/streaming';
import { Plan, PlanTask } from './entities/plan.entity';
import { orchestrationMetricNames as names, ORCHESTRATOR_NAME } from './orchestration.events';
import {
  type Decision,
  MAX_PLAN_TASKS,
  parseDecision,
  type PlannedTaskInput,
  validatePlan,
} from './planning/plan-validation';
import { type Advanced, PlanScheduler } from './scheduling/plan-scheduler';

/** Journal steps of an orchestration run (fixed seqs: a resumed run addresses the same rows). */
const PLANNER_STEPS = [1, 2];
const APPROVAL_STEP = 3;
const PLAN_STEP = 4;
const JOIN_STEP = 5;
/** Recovery planner calls: 10, 11 (at most MAX_RECOVERIES). */
const RECOVERY_STEP = 10;
const MAX_RECOVERIES = 2;
/** How much of each task's result the join prompt carries. */
const RESULT_IN_JOIN_CHARS = 2_000;

const PLANNER_PROMPT = `${PLANNER_MARKER} Decide how to handle the user's request with the project's agents. Answer with JSON only: either {"decision": "route", "agent": "<name>"} to hand the request to one agent, or {"decision": "plan", "tasks": [{"id": "t1", "agent": "<name>", "instruction": "...", "depends_on": [], "writes": ["<glob>"], "on_failure": "fail_plan" | "skip" | "retry"}]} (at most ${MAX_PLAN_TASKS} tasks; independent tasks run in parallel).`;

/**
 * Runs of kind `orchestration`: the project's orchestrator answering a message of an orchestrated
 * session. It asks the planner for a decision (one re-plan when the plan is invalid); a route
 * becomes a direct run of the agent (and a switch when the agent changes); a plan is stored with
 * its tasks, the scheduler starts what is ready as child task runs, the run parks holding nothing
 * while they work, and when every task is over it writes the final answer from their results.
 */
@Injectable()
export class OrchestrationRunHandler implements RunHandler {
  readonly kind = RunKind.Orchestration;

  constructor(
    private readonly em: EntityManager,
    private readonly queries: QueryBus,
    private readonly commands: CommandBus,
    private readonly events: EventBus,
    private readonly messages: MessageLog,
    private readonly models: ChatModelFactory,
    private readonly caller: ModelCaller,
    private readonly lanes: RunLanes,
    private readonly lifecycle: RunLifecycle,
    private readonly cancellation: RunCancellation,
    private readonly scheduler: PlanScheduler,
    private readonly approvals: ApprovalRequests,
    private readonly deadlines: ApprovalDeadlines,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(names.plans) private readonly plans: Counter<string>,
    @InjectMetric(names.tasks) private readonly tasks: Counter<string>,
    @InjectMetric(names.taskStart) private readonly taskStart: Histogram<string>,
    @InjectMetric(names.width) private readonly width: Histogram<string>,
  ) {}

  async prepare(run: Run): Promise<Preparation> {
    try {
      await this.queries.execute(
        new GetOwnedSessionQuery(run.projectId, run.sessionId, run.ownerId),
      );
    } catch (error) {
      if (!(error instanceof ResourceNotFoundError)) throw error;
      return {
        kind: 'fail',
        error: { code: 'SESSION_NOT_FOUND', message: 'The session no longer exists' },
      };
    }
    // The orchestrator's slot key is the project's id: up to 32 orchestrations at once.
    return { kind: 'ready', agentId: run.agentId, agentLimit: 32, maxRunSeconds: 600 };
  }

  async execute(ctx: RunContext): Promise<RunOutcome> {
    const { run } = ctx;
    const existing = await this.planOf(run);
    if (existing) return this.continuePlan(ctx, existing);
    const steps = await ctx.journal.list();
    const routed = steps.find((s) => s.seq === PLAN_STEP && s.name === 'route');
    // Routed before a crash: the switch may not have been recorded yet (it is once per run).
    if (routed) return this.recordRoute(run, String(routed.result?.agent_id ?? ''));

    const input = run.inputMessageId
      ? await this.messages.get(run.sessionId, run.inputMessageId)
      : null;
    if (!input)
      return {
        kind: 'failed',
        error: { code: 'INPUT_NOT_FOUND', message: 'The message to answer is gone' },
      };
    const { items: agents } = await this.queries.execute(
      new ListAgentsQuery(run.projectId, run.ownerId, 100),
    );
    const names = agents.map((a) => a.name);

    let decision: Decision | null = null;
    let errors: string[] = [];
    let previous = '';
    let replanned = false;
    for (const seq of PLANNER_STEPS) {
      replanned = seq > PLANNER_STEPS[0];
      const step = steps.find((s) => s.seq === seq);
      let text: string;
      if (step?.status === StepStatus.Succeeded) text = String(step.result?.text ?? '');
      else if (step?.status === StepStatus.Failed)
        // The planner call failed (journalled): not asked again.
        return {
          kind: 'failed',
          error: step.error ?? { code: 'LLM_FAILED', message: 'The planner call failed' },
        };
      else {
        const planned = await this.plan(
          ctx,
          seq,
          input.content,
          agents,
          errors.length
            ? [
                `Your previous plan was invalid (${errors.join('; ')}):\n${previous.slice(0, 4_000)}\nAnswer again with a valid decision.`,
              ]
            : [],
        );
        if ('kind' in planned) return planned;
        text = planned.text;
      }
      const parsed = parseDecision(text);
      if ('errors' in parsed) errors = parsed.errors;
      else if (parsed.decision === 'plan') errors = validatePlan(parsed.tasks, names);
      else
        errors = names.includes(parsed.agent) ? [] : [`no agent "${parsed.agent}" in this project`];
      if (!errors.length && !('errors' in parsed)) {
        decision = parsed;
        break;
      }
      previous = text;
    }
    if (!decision) {
      this.plans.inc({ outcome: 'invalid' });
      return {
        kind: 'failed',
        error: { code: 'PLAN_INVALID', message: `The plan is invalid: ${errors.join('; ')}` },
      };
    }
    if (decision.decision === 'route')
      return this.route(
        ctx,
        agents.find((a) => a.name === decision.agent)!,
      );
    const gate = await this.approvalGate(ctx, decision.tasks, names);
    if ('kind' in gate) return gate;
    return this.startPlan(ctx, gate.tasks, agents, replanned);
  }

  /** One planner call, journalled (a read: after a crash it is simply asked again). */
  private async plan(
    ctx: RunContext,
    seq: number,
    request: string,
    agents: Agent[],
    /** Follow-ups after the request: a re-plan's errors, a recovery's outcomes. */
    followUps: string[] = [],
  ): Promise<{ text: string } | RunOutcome> {
    await ctx.journal.start({ seq, kind: StepKind.Llm, name: 'planner' });
    const system = `${PLANNER_PROMPT}\n\n${AGENTS_MARKER} ${agents.map((a) => `${a.name} (${a.role})`).join(', ')}`;
    const messages = [
      new SystemMessage(system),
      new HumanMessage(request),
      ...followUps.map((f) => new HumanMessage(f)),
    ];
    const { model, target } = this.models.forAgent({
      model: this.config.llm.defaultModel || 'gpt-4o-mini',
      temperature: 0,
    });
    try {
      const result = await this.caller.call(model, messages, target, { signal: ctx.signal });
      const content = result.message.content;
      const text = typeof content === 'string' ? content : JSON.stringify(content);
      await ctx.journal.finish(seq, { status: StepStatus.Succeeded, result: { text } });
      return { text };
    } catch (error) {
      if (!(error instanceof LlmError) || ctx.signal.aborted) throw error;
      await ctx.journal.finish(seq, {
        status: StepStatus.Failed,
        error: { code: error.code, message: error.message },
      });
      return { kind: 'failed', error: { code: error.code, message: error.message } };
    }
  }

  /**
   * A route: the agent answers the message in a run of its own right behind this one in the
   * session's lane (dispatched when this run completes), recorded as a switch when the session's
   * agent changes (applied once: the switch's id is this run's).
   */
  private async route(ctx: RunContext, agent: Agent): Promise<RunOutcome> {
    const { run, journal } = ctx;
    await journal.fenced(
      async (tx) => {
        await this.lanes.spawn(tx, {
          id: randomUUID(),
          sessionId: run.sessionId,
          projectId: run.projectId,
          ownerId: run.ownerId,
          agentId: agent.id,
          agentName: agent.name,
          kind: RunKind.Agent,
          mode: RunMode.Direct,
          lane: run.lane,
          laneSeq: run.laneSeq,
          inputMessageId: run.inputMessageId,
          input: { routed_by: run.id },
        });
        await journal.record(
          { seq: PLAN_STEP, kind: StepKind.Task, name: 'route' },
          { status: StepStatus.Succeeded, result: { agent: agent.name, agent_id: agent.id } },
          tx,
        );
      },
      { lane: run.lane },
    );
    this.plans.inc({ outcome: 'routed' });
    return this.recordRoute(run, agent.id);
  }

  /** A route that changes the session's agent is a switch (reason routed), once per run. */
  private async recordRoute(run: Run, agentId: string): Promise<RunOutcome> {
    const session = await this.queries.execute(
      new GetOwnedSessionQuery(run.projectId, run.sessionId, run.ownerId),
    );
    if (agentId && session.currentAgentId !== agentId)
      await this.commands.execute(
        new SwitchAgentCommand({
          sessionId: run.sessionId,
          projectId: run.projectId,
          ownerId: run.ownerId,
          agent: agentId,
          reason: SwitchReason.Routed,
          explanation: 'the orchestrator routed the request',
          runId: run.id,
          inputMessageId: run.inputMessageId,
          eventId: run.id,
        }),
      );
    return { kind: 'completed' };
  }

  /**
   * With `require_plan_approval`, the plan waits for the user (an approval of kind `plan`, in the
   * journal as an awaiting step): approved (maybe edited: validated again) it runs, rejected or
   * expired the run fails PLAN_REJECTED.
   */
  private async approvalGate(
    ctx: RunContext,
    tasks: PlannedTaskInput[],
    names: string[],
  ): Promise<{ tasks: PlannedTaskInput[] } | RunOutcome> {
    const { run, journal } = ctx;
    const step = (await journal.list()).find((s) => s.seq === APPROVAL_STEP);
    if (!step) {
      const project = await this.queries.execute(
        new GetOwnedProjectQuery(run.projectId, run.ownerId),
      );
      const settings = settingsOf(project);
      if (!settings.require_plan_approval) return { tasks };
      const reason = 'The orchestrator asks to run this plan';
      const approval = await journal.fenced(async (tx) => {
        await journal.record(
          { seq: APPROVAL_STEP, kind: StepKind.Approval, name: 'plan' },
          { status: StepStatus.Awaiting, result: { park: 'awaiting_approval', reason } },
          tx,
        );
        return this.approvals.open(tx, {
          projectId: run.projectId,
          ownerId: run.ownerId,
          sessionId: run.sessionId,
          runId: run.id,
          stepSeq: APPROVAL_STEP,
          agentId: run.agentId,
          kind: ApprovalKind.Plan,
          toolName: 'plan',
          args: { tasks },
          reason,
          deadlineSeconds: settings.approval_deadline_seconds,
          // Nobody decided: nothing runs.
          defaultAction: 'reject',
        });
      });
      if (approval.status === ApprovalStatus.Pending) {
        await this.deadlines.schedule(approval);
        ctx.publish('plan_approval_requested', { approval: toApprovalDto(approval) });
      }
      return { kind: 'parked', status: 'awaiting_approval', reason };
    }
    if (step.status === StepStatus.Failed)
      return {
        kind: 'failed',
        error: { code: 'PLAN_REJECTED', message: step.error?.message ?? 'The plan was rejected' },
      };
    const approval = await this.queries.execute(new GetStepApprovalQuery(run.id, APPROVAL_STEP));
    if (approval?.status === ApprovalStatus.Approved) {
      const approved = (approval.editedArgs ?? approval.args) as { tasks?: unknown };
      const parsed = parseDecision(JSON.stringify({ decision: 'plan', tasks: approved.tasks }));
      if ('errors' in parsed || parsed.decision !== 'plan')
        return {
          kind: 'failed',
          error: { code: 'PLAN_INVALID', message: 'The approved plan is not a plan' },
        };
      const errors = validatePlan(parsed.tasks, names);
      if (errors.length)
        return {
          kind: 'failed',
          error: {
            code: 'PLAN_INVALID',
            message: `The approved plan is invalid: ${errors.join('; ')}`,
          },
        };
      if (step.status === StepStatus.Awaiting)
        await journal.finish(APPROVAL_STEP, {
          status: StepStatus.Succeeded,
          result: { approved: true, edited: approval.editedArgs !== null },
        });
      return { tasks: parsed.tasks };
    }
    const refusal = approval ? refusalOf(approval) : null;
    if (refusal)
      return { kind: 'failed', error: { code: 'PLAN_REJECTED', message: refusal.message } };
    return { kind: 'parked', status: 'awaiting_approval', reason: 'waiting for the plan approval' };
  }

  /** The plan and its tasks, the first tasks started, in one transaction; then the run parks. */
  private async startPlan(
    ctx: RunContext,
    planned: PlannedTaskInput[],
    agents: Agent[],
    replanned: boolean,
  ): Promise<RunOutcome> {
    const { run, journal } = ctx;
    const byName = new Map(agents.map((a) => [a.name, a]));
    const planId = randomUUID();
    const advanced = await journal.fenced(
      async (tx) => {
        const conn = tx.getConnection();
        const t = tx.getTransactionContext();
        await conn.execute(
          `insert into plans (id, run_id, session_id, project_id, owner_id, replans) values (?, ?, ?, ?, ?, ?)`,
          [planId, run.id, run.sessionId, run.projectId, run.ownerId, replanned ? 1 : 0],
          'run',
          t,
        );
        await this.insertTasks(tx, planId, planned, byName, 0);
        // Its end (cancelled) takes the task runs along.
        await conn.execute(
          `update runs set state = state || '{"delegated": true}'::jsonb where id = ?`,
          [run.id],
          'run',
          t,
        );
        await journal.record(
          { seq: PLAN_STEP, kind: StepKind.Task, name: 'plan' },
          { status: StepStatus.Succeeded, result: { plan_id: planId, tasks: planned.length } },
          tx,
        );
        return this.scheduler.advance(tx, planId);
      },
      { lane: run.lane },
    );
    crashPoint('orchestration:planned');
    this.width.observe(planned.length);
    ctx.publish('plan_created', {
      plan_id: planId,
      tasks: planned.map((t) => ({ id: t.id, agent: t.agent, depends_on: t.depends_on })),
    });
    if (advanced) await this.applied(run, advanced);
    return { kind: 'parked', status: 'awaiting_children', reason: 'running the plan' };
  }

  /** The plan's tasks, from `offset` on in plan order. */
  private async insertTasks(
    tx: EntityManager,
    planId: string,
    planned: PlannedTaskInput[],
    byName: Map<string, Agent>,
    offset: number,
  ): Promise<void> {
    for (const [i, task] of planned.entries()) {
      const agent = byName.get(task.agent)!;
      await tx.getConnection().execute(
        `insert into plan_tasks (plan_id, task_id, position, agent_id, agent_name, instruction,
           depends_on, writes, on_failure) values (?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?)`,
        [
          planId,
          task.id,
          offset + i,
          agent.id,
          agent.name,
          toStorable(task.instruction),
          JSON.stringify(task.depends_on),
          JSON.stringify(task.writes ?? []),
          task.on_failure ?? 'fail_plan',
        ],
        'run',
        tx.getTransactionContext(),
      );
    }
  }

  /** Re-executed (resumed, or after a crash): reconcile the plan, then park or join. */
  private async continuePlan(ctx: RunContext, plan: Plan): Promise<RunOutcome> {
    const advanced = await ctx.journal.fenced((tx) => this.scheduler.advance(tx, plan.id), {
      lane: ctx.run.lane,
    });
    if (advanced) await this.applied(ctx.run, advanced);
    if (advanced && !advanced.terminal)
      return { kind: 'parked', status: 'awaiting_children', reason: 'running the plan' };
    const recovered = await this.recover(ctx, plan.id);
    if (recovered) return recovered;
    return this.join(ctx, plan.id);
  }

  /**
   * A plan that failed (a task failed after its retries, not a fail_plan stop) asks the planner
   * to recover, at most MAX_RECOVERIES times: new tasks (new ids; they may depend on tasks that
   * completed) are added to the plan, which runs on. Null when it cannot or should not recover.
   */
  private async recover(ctx: RunContext, planId: string): Promise<RunOutcome | null> {
    const { run, journal } = ctx;
    const plan = await this.planOf(run);
    if (!plan || plan.status !== 'failed' || plan.recoveries >= MAX_RECOVERIES) return null;
    const tasks = await this.tasksOf(planId);
    if (!tasks.some((t) => t.status === 'failed')) return null;
    // A fail_plan stop is final.
    if (tasks.some((t) => t.error?.code === 'PLAN_FAILED')) return null;
    if (tasks.some((t) => t.status === 'failed' && t.onFailure === 'fail_plan')) return null;
    // New tasks would run without the user's approval: with approvals on, no automatic re-plan.
    const project = await this.queries.execute(
      new GetOwnedProjectQuery(run.projectId, run.ownerId),
    );
    if (settingsOf(project).require_plan_approval) return null;
    const seq = RECOVERY_STEP + plan.recoveries;
    const step = (await journal.list()).find((s) => s.seq === seq);
    const { items: agents } = await this.queries.execute(
      new ListAgentsQuery(run.projectId, run.ownerId, 100),
    );
    let text: string;
    if (step?.status === StepStatus.Succeeded) text = String(step.result?.text ?? '');
    else if (step?.status === StepStatus.Failed) return null;
    else {
      const input = run.inputMessageId
        ? await this.messages.get(run.sessionId, run.inputMessageId)
        : null;
      const outcomes = tasks
        .map(
          (t) =>
            `- ${t.taskId} (${t.agentName}): ${t.status}${t.error ? ` (${t.error.message})` : ''}`,
        )
        .join('\n');
      const planned = await this.plan(ctx, seq, input?.content ?? '', agents, [
        `Some tasks of your plan failed:\n${outcomes}\nPlan the remaining work: new tasks with new ids; depends_on may name completed tasks.`,
      ]);
      if ('kind' in planned) return null;
      text = planned.text;
    }
    const parsed = parseDecision(text);
    if ('errors' in parsed || parsed.decision !== 'plan') return null;
    const completed = tasks.filter((t) => t.status === 'completed');
    const known = new Set(tasks.map((t) => t.taskId));
    const combined = [
      ...completed.map((t) => ({
        id: t.taskId,
        agent: t.agentName,
        instruction: 'done',
        depends_on: [],
      })),
      ...parsed.tasks,
    ];
    const errors = [
      ...parsed.tasks.filter((t) => known.has(t.id)).map((t) => `task id "${t.id}" is taken`),
      ...validatePlan(
        combined,
        agents.map((a) => a.name),
      ),
    ];
    if (errors.length || tasks.length + parsed.tasks.length > MAX_PLAN_TASKS * 2) return null;
    const byName = new Map(agents.map((a) => [a.name, a]));
    const advanced = await journal.fenced(
      async (tx) => {
        const conn = tx.getConnection();
        const t = tx.getTransactionContext();
        // Once: the plan row decides (locked), a second execution finds it recovered already.
        const reopened = await conn.execute<{ id: string }[]>(
          `update plans set status = 'running', finished_at = null, recoveries = recoveries + 1
            where id = ? and status = 'failed' and recoveries = ? returning id`,
          [planId, plan.recoveries],
          'all',
          t,
        );
        if (!reopened.length) return this.scheduler.advance(tx, planId);
        // The failed tasks are replaced by the new ones: they no longer fail the plan.
        await conn.execute(
          `update plan_tasks set status = 'skipped',
             error = jsonb_build_object('code', 'REPLANNED', 'message', 'Failed; the planner planned around it: ' || coalesce(error->>'message', ''))
           where plan_id = ? and status = 'failed'`,
          [planId],
          'run',
          t,
        );
        await this.insertTasks(tx, planId, parsed.tasks, byName, tasks.length);
        return this.scheduler.advance(tx, planId);
      },
      { lane: run.lane },
    );
    ctx.publish('plan_created', {
      plan_id: planId,
      recovery: plan.recoveries + 1,
      tasks: parsed.tasks.map((x) => ({ id: x.id, agent: x.agent, depends_on: x.depends_on })),
    });
    if (advanced) await this.applied(run, advanced);
    if (advanced && !advanced.terminal)
      return { kind: 'parked', status: 'awaiting_children', reason: 'running the recovered plan' };
    return this.join(ctx, planId);
  }

  /** The scheduler's effects, once its transaction committed: queue, stream, metrics. */
  async applied(run: Pick<Run, 'sessionId' | 'id'>, advanced: Advanced): Promise<void> {
    for (const t of advanced.transitions) await this.lifecycle.afterCommit(t);
    // Running tasks a fail_plan stop cancelled: their workers stop them now.
    for (const runId of advanced.signals) await this.cancellation.requestCancel(runId);
    for (const d of advanced.dispatched) await this.lifecycle.enqueue(d);
    for (const s of advanced.startLatencies) this.taskStart.observe(s);
    for (const e of advanced.events) {
      this.tasks.inc({ outcome: e.type.replace('task_', '') });
      this.events.publish(
        new SessionEvent(e.type, run.sessionId, run.id, null, { task_id: e.taskId, ...e.payload }),
      );
    }
  }

  /** Every task is over: the final answer from their results, streamed. */
  private async join(ctx: RunContext, planId: string): Promise<RunOutcome> {
    const { run, journal } = ctx;
    const plan = await this.planOf(run);
    const tasks = await this.tasksOf(planId);
    const failed = plan?.status !== 'completed';
    const outcome = (outputMessageId?: string): RunOutcome => {
      this.plans.inc({ outcome: plan?.status ?? 'failed' });
      return failed
        ? {
            kind: 'failed',
            outputMessageId,
            error: {
              code: plan?.status === 'cancelled' ? 'PLAN_CANCELLED' : 'PLAN_FAILED',
              message: `The plan ${plan?.status ?? 'failed'}: ${tasks
                .filter((t) => t.status !== 'completed')
                .map((t) => `${t.taskId} ${t.status}`)
                .join(', ')}`,
            },
          }
        : { kind: 'completed', outputMessageId };
    };
    const steps = await journal.list();
    const done = steps.find((s) => s.seq === JOIN_STEP && s.status === StepStatus.Succeeded);
    if (done) return outcome(done.messageId ?? undefined);

    const input = run.inputMessageId
      ? await this.messages.get(run.sessionId, run.inputMessageId)
      : null;
    const results = tasks
      .map(
        (t) =>
          `- ${t.taskId} (${t.agentName}, ${t.status}): ${
            t.status === 'completed'
              ? String(typeof t.result === 'string' ? t.result : JSON.stringify(t.result)).slice(
                  0,
                  RESULT_IN_JOIN_CHARS,
                )
              : (t.error?.message ?? '')
          }`,
      )
      .join('\n');
    await journal.start({ seq: JOIN_STEP, kind: StepKind.Llm, name: 'join' });
    const { model, target } = this.models.forAgent({
      model: this.config.llm.defaultModel || 'gpt-4o-mini',
      temperature: 0.2,
    });
    let text: string;
    try {
      const result = await this.caller.call(
        model,
        [
          new SystemMessage(
            "You are the CodeLab orchestrator. The project's agents worked on the user's request as planned; write the final answer from their results.",
          ),
          new HumanMessage(`${input?.content ?? ''}\n\nTask results:\n${results}`),
        ],
        target,
        {
          signal: ctx.signal,
          onToken: (token) => ctx.publish('token', { text: token, step: JOIN_STEP }),
        },
      );
      const content = result.message.content;
      text = typeof content === 'string' ? content : JSON.stringify(content);
    } catch (error) {
      if (!(error instanceof LlmError) || ctx.signal.aborted) throw error;
      text = `The tasks ended (${tasks.map((t) => `${t.taskId}: ${t.status}`).join(', ')}), but the final answer could not be written: ${error.message}`;
    }
    const message = await journal.fenced(async (tx) => {
      const appended = await this.messages.append(tx, {
        sessionId: run.sessionId,
        role: MessageRole.Assistant,
        content: toStorable(text),
        agentName: ORCHESTRATOR_NAME,
        runId: run.id,
        stepSeq: JOIN_STEP,
        metadata: { plan_id: planId, plan_status: plan?.status },
      });
      await journal.finish(
        JOIN_STEP,
        {
          status: StepStatus.Succeeded,
          result: { plan_status: plan?.status },
          messageId: appended.id,
        },
        tx,
      );
      return appended;
    });
    ctx.publish('message_completed', { message: messageDtoOf(message) });
    ctx.publish('orchestration_completed', {
      plan_id: planId,
      status: plan?.status,
      tasks: tasks.map((t) => ({ id: t.taskId, status: t.status })),
    });
    return outcome(message.id);
  }

  private async planOf(run: Run): Promise<Plan | null> {
    return this.em
      .fork()
      .findOne(Plan, { runId: run.id, ownerId: run.ownerId }, { disableIdentityMap: true });
  }

  private async tasksOf(planId: string): Promise<PlanTask[]> {
    return this.em
      .fork()
      .find(PlanTask, { planId }, { orderBy: { position: 'asc' }, disableIdentityMap: true });
  }
}
