import { Inject, Injectable, Logger } from '@nestjs/common';
import canonicalize from 'canonicalize';
import { QueryBus } from '@nestjs/cqrs';
import {
  AIMessage,
  type AIMessageChunk,
  type BaseMessage,
  HumanMessage,
  ToolMessage,
} from '@langchain/core/messages';
import type { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';
import {
  APP_CONFIG,
  type AppConfig,
  crashPoint,
  ResourceNotFoundError,
  ThrottledLog,
  toStorable,
  unstorableAt,
} from '@codelab/platform';
import { type Agent, GetOwnedAgentQuery } from '@codelab/agents';
import { GetOwnedProjectQuery, type ProjectSettings, settingsOf } from '@codelab/projects';
import {
  ApprovalDeadlines,
  ApprovalKind,
  ApprovalRequests,
  APPROVALS_REQUESTED,
  ApprovalStatus,
  GetStepApprovalQuery,
  refusalOf,
  toApprovalDto,
} from '@codelab/approvals';
import { ChatModelFactory, LlmError, ModelCaller, REPAIR_MARKER } from '@codelab/llm';
import { MemoryService, MemoryUnavailableError } from '@codelab/memory';
import {
  type Preparation,
  type Run,
  type RunContext,
  type RunHandler,
  RunKind,
  RunLifecycle,
  ListChildRunsQuery,
  RunYieldSignal,
  FINAL_RUN_STATUSES,
  type RunOutcome,
  type StepStart,
  argsDigest,
  type RunStep,
  type RunUsage,
  type RunWarning,
  type FencedTx,
  StepEffect,
  StepKind,
  StepStatus,
  FINISHED_STEP_STATUSES,
} from '@codelab/runs';
import {
  GetOwnedSessionQuery,
  type LoggedMessage,
  messageDtoOf,
  MessageLog,
  MessageRole,
  type ToolCallRecord,
} from '@codelab/sessions';
import {
  DELEGATE,
  decideToolCall,
  findTool,
  SWITCH_AGENT,
  type Tool,
  type ToolContext,
  type ToolResult,
  ToolRegistry,
} from '@codelab/tools';
import {
  AGENT_STEP_TIME,
  MEMORY_UNAVAILABLE,
  TOOL_CALLS,
  TOOL_DURATION,
} from './agent-runtime.metrics';
import { HandOffs, handoverOf, RESULT_REPAIR, type TaskInput, taskOf } from './handoffs/hand-offs';
import { PromptBuilder } from './prompt-builder';
import { TokenBatcher } from './token-batcher';

/** The tools of one run, with the project's limits the policy and the tools apply. */
interface ToolBox {
  tools: Tool[];
  project: {
    commandsEnabled: boolean;
    commandsNeedApproval: boolean;
    deniedPaths: string[];
    approvalTools: string[];
  };
  settings: ProjectSettings;
  /** The project's own deny globs (beyond .git and .env*). */
  deniedPaths: string[];
}

// A warning per failing memory component, then one reminder per interval: "once per cause".
const MEMORY_WARNING_INTERVAL_MS = 10 * 60_000;
/** How much of a tool result the SSE `tool_result` event previews. */
const TOOL_RESULT_PREVIEW_BYTES = 1_024;

/** The first `max` bytes of a text, cut on a character boundary. */
const headOf = (text: string, max: number) =>
  new TextDecoder().decode(Buffer.from(text).subarray(0, max)).replace(/\uFFFD$/, '');

const textOf = (message: AIMessageChunk) =>
  typeof message.content === 'string'
    ? message.content
    : message.content
        .map((p) => ('text' in p && typeof p.text === 'string' ? p.text : ''))
        .join('');

const effectOf = (name: string, tool: Tool | undefined): StepEffect => {
  if (tool) return tool.effect as StepEffect;
  const access = findTool(name)?.access;
  return access === 'write'
    ? StepEffect.Write
    : access === 'execute'
      ? StepEffect.Exec
      : access === 'read'
        ? StepEffect.Read
        : StepEffect.None;
};

/**
 * The agent's conversation turn as a durable loop over the run's journal: model turn -> tool
 * calls -> model turn ... until the model answers without tool calls. Every step is journalled
 * before and after it runs, and the message it produced commits with its outcome, so a
 * re-delivered run continues where it stopped: finished steps never run again, a read step left
 * started is run again, a write or command left started is marked unknown_outcome and the model
 * is told so, never re-applied. Reads of one turn run in parallel, writes and commands one at a
 * time, in order.
 */
@Injectable()
export class AgentRunHandler implements RunHandler {
  readonly kind = RunKind.Agent;
  private readonly logger = new Logger(AgentRunHandler.name);
  private readonly memoryWarnings = new ThrottledLog(this.logger, MEMORY_WARNING_INTERVAL_MS);

  constructor(
    private readonly queries: QueryBus,
    private readonly messages: MessageLog,
    private readonly prompts: PromptBuilder,
    private readonly models: ChatModelFactory,
    private readonly caller: ModelCaller,
    private readonly memory: MemoryService,
    private readonly tools: ToolRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly approvals: ApprovalRequests,
    private readonly deadlines: ApprovalDeadlines,
    private readonly handoffs: HandOffs,
    private readonly lifecycle: RunLifecycle,
    @InjectMetric(APPROVALS_REQUESTED) private readonly approvalsRequested: Counter<string>,
    @InjectMetric(MEMORY_UNAVAILABLE) private readonly memoryUnavailable: Counter<string>,
    @InjectMetric(AGENT_STEP_TIME) private readonly stepTime: Histogram<string>,
    @InjectMetric(TOOL_CALLS) private readonly toolCallCount: Counter<string>,
    @InjectMetric(TOOL_DURATION) private readonly toolDuration: Histogram<string>,
  ) {}

  /** The same loop registered for another run kind (delegated tasks). */
  forKind(kind: RunKind): RunHandler {
    return { kind, prepare: (run) => this.prepare(run), execute: (ctx) => this.execute(ctx) };
  }

  /** Ownership is re-checked from PostgreSQL: the session and the agent, by the run's owner. */
  async prepare(run: Run): Promise<Preparation> {
    // Both at once: one round trip's time.
    const [session, agent] = await Promise.all([
      this.queries
        .execute(new GetOwnedSessionQuery(run.projectId, run.sessionId, run.ownerId))
        .then(
          () => true,
          (error: unknown) => {
            if (error instanceof ResourceNotFoundError) return false;
            throw error;
          },
        ),
      this.agentOf(run),
    ]);
    if (!session)
      return {
        kind: 'fail',
        error: { code: 'SESSION_NOT_FOUND', message: 'The session no longer exists' },
      };
    if (!agent)
      return { kind: 'fail', error: { code: 'AGENT_NOT_FOUND', message: 'The agent was deleted' } };
    return {
      kind: 'ready',
      agentId: agent.id,
      agentLimit: agent.concurrencyLimit,
      maxRunSeconds: agent.maxRunSeconds,
    };
  }

  async execute(ctx: RunContext): Promise<RunOutcome> {
    const { run, journal } = ctx;
    const agent = await this.agentOf(run);
    if (!agent)
      return {
        kind: 'failed',
        error: { code: 'AGENT_NOT_FOUND', message: 'The agent was deleted' },
      };
    // A conversation run answers a user message; a delegated task does what its input asks.
    const task = taskOf(run);
    const input = run.inputMessageId
      ? await this.messages.get(run.sessionId, run.inputMessageId)
      : null;
    if (!input && !task)
      return {
        kind: 'failed',
        error: { code: 'INPUT_NOT_FOUND', message: 'The message to answer is gone' },
      };

    const prompt = task
      ? this.prompts.buildTask(agent, task)
      : await this.prompts.build(agent, run.sessionId, input!, handoverOf(run));
    const warnings: RunWarning[] = [];
    if (prompt.memoryUnavailable)
      warnings.push(this.memoryDegraded('recall', run, prompt.memoryUnavailable));
    const tools = this.tools.available(agent.tools);
    // The project's settings matter only once the model calls tools: read then, once.
    let box: ToolBox | null | undefined;
    const boxOf = async () => {
      if (box !== undefined) return box;
      const project = await this.queries
        .execute(new GetOwnedProjectQuery(run.projectId, run.ownerId))
        .catch((error: unknown) => {
          if (error instanceof ResourceNotFoundError) return null;
          throw error;
        });
      box = project ? this.toolBox(agent, settingsOf(project), tools) : null;
      return box;
    };

    for (;;) {
      // Shutting down: stop between steps; another worker resumes from the journal.
      if (ctx.draining.aborted) throw new RunYieldSignal();
      const steps = await journal.list();
      const turns = steps.filter((s) => s.kind === StepKind.Llm);
      const last = turns.at(-1);
      if (!last || last.status === StepStatus.Started) {
        const seq = last?.seq ?? 1;
        const outcome = await this.modelTurn(ctx, agent, prompt, tools, seq, warnings);
        if (outcome) return outcome;
        continue;
      }
      if (last.status === StepStatus.Failed)
        return {
          kind: 'failed',
          error: last.error ?? { code: 'LLM_FAILED', message: 'The model call failed' },
          deadLetter: true,
          usage: sumUsage(turns),
        };

      const calls = (last.result?.tool_calls as ToolCallRecord[] | undefined) ?? [];
      if (calls.length === 0 && task) {
        const settled = await this.finishTask(ctx, agent, task, last, turns, steps);
        if (typeof settled !== 'number') return settled;
        // The result did not match `returns`: one more turn, told what was wrong.
        const outcome = await this.modelTurn(ctx, agent, prompt, tools, settled + 1, warnings);
        if (outcome) return outcome;
        continue;
      }
      if (calls.length === 0) return this.finish(ctx, agent, input!, last, turns, warnings);
      // The last allowed turn still asks for tools: stop before running them.
      if (turns.length >= agent.maxSteps) return this.tooManySteps(agent, turns);

      const withSettings = await boxOf();
      if (!withSettings)
        return {
          kind: 'failed',
          error: { code: 'PROJECT_NOT_FOUND', message: 'The project was deleted' },
        };
      const parked = await this.toolCalls(ctx, agent, withSettings, last.seq, calls, steps);
      if (parked) return parked;
      // Every call of that turn has its result: the next model turn follows them.
      const outcome = await this.modelTurn(
        ctx,
        agent,
        prompt,
        tools,
        last.seq + calls.length + 1,
        warnings,
      );
      if (outcome) return outcome;
    }
  }

  /** One model call, journalled; its assistant message commits with the step's outcome. */
  private async modelTurn(
    ctx: RunContext,
    agent: Agent,
    prompt: Awaited<ReturnType<PromptBuilder['build']>>,
    tools: Tool[],
    seq: number,
    warnings: RunWarning[],
  ): Promise<RunOutcome | null> {
    const { run, journal } = ctx;
    await journal.start({ seq, kind: StepKind.Llm, name: agent.model });
    crashPoint('agent:llm-started');
    const started = Date.now();
    const ownTurns = await this.messages.ofRun(run.id);
    const messages: BaseMessage[] = [...prompt.messages, ...ownTurns.map(toLangChain)];
    const { model, target } = this.models.forAgent({
      model: agent.model,
      temperature: agent.temperature,
    });
    const bound = tools.length
      ? model.bindTools(
          tools.map((t) => ({
            type: 'function' as const,
            function: { name: t.name, description: t.description, parameters: t.parameters },
          })),
        )
      : model;
    const tokens = new TokenBatcher((text) => ctx.publish('token', { text, step: seq }));
    let result: Awaited<ReturnType<ModelCaller['call']>>;
    try {
      result = await this.caller.call(bound, messages, target, {
        // A model call is a read: on shutdown it is abandoned (and run again on resume).
        signal: AbortSignal.any([ctx.signal, ctx.draining]),
        onToken: (text) => tokens.push(text),
      });
    } catch (error) {
      tokens.flush();
      if (ctx.draining.aborted && !ctx.signal.aborted) throw new RunYieldSignal();
      if (!(error instanceof LlmError) || ctx.signal.aborted) throw error;
      await journal.finish(seq, {
        status: StepStatus.Failed,
        error: { code: error.code, message: error.message },
      });
      return {
        kind: 'failed',
        error: { code: error.code, message: error.message },
        deadLetter: true,
        usage: sumUsage(
          await journal.list().then((all) => all.filter((s) => s.kind === StepKind.Llm)),
        ),
      };
    } finally {
      tokens.flush();
    }
    const order = (result.message.tool_call_chunks ?? []).map((c) => c.id);
    const streamOrder = (id: string | undefined) => {
      const i = id === undefined ? -1 : order.indexOf(id);
      return i < 0 ? order.length : i;
    };
    const toolCalls: ToolCallRecord[] = [
      ...(result.message.tool_calls ?? []).map((c) =>
        // Text PostgreSQL cannot store (NUL, lone surrogates) makes the call invalid, not the run.
        unstorableAt(c.args ?? {}) === null
          ? { id: c.id, name: c.name, args: c.args ?? {} }
          : {
              id: c.id,
              name: c.name,
              args: {},
              invalid: 'The arguments contain NUL characters or unpaired surrogates',
            },
      ),
      // Arguments that did not parse as JSON: still calls the model made, answered with an error.
      ...(result.message.invalid_tool_calls ?? []).map((c) => ({
        id: c.id,
        name: c.name ?? 'unknown',
        args: {},
        invalid: toStorable(
          `The arguments are not a valid JSON object${c.error ? ` (${c.error})` : ''}: ${String(c.args ?? '').slice(0, 200)}`,
        ),
      })),
    ]
      // In the order the model made them (invalid ones were split out by the parser).
      .sort((a, b) => streamOrder(a.id) - streamOrder(b.id))
      .map((c, i) => ({
        ...c,
        id: c.id ?? `call_${run.id.slice(0, 8)}_${seq}_${i}`,
        name: toStorable(c.name),
      }));
    const usage = result.message.usage_metadata
      ? {
          input_tokens: result.message.usage_metadata.input_tokens,
          output_tokens: result.message.usage_metadata.output_tokens,
        }
      : null;
    const message = await journal.fenced(async (tx) => {
      const appended = await this.messages.append(tx, {
        sessionId: run.sessionId,
        role: MessageRole.Assistant,
        content: toStorable(textOf(result.message)),
        agentId: agent.id,
        agentName: agent.name,
        runId: run.id,
        stepSeq: seq,
        internal: run.kind === RunKind.Task,
        toolCalls: toolCalls.length ? toolCalls : null,
        metadata: {
          model: agent.model,
          memory_hits: prompt.memoryHits,
          history_messages: prompt.historyMessages,
          model_attempts: result.attempts,
          ...(prompt.memoryUnavailable ? { memory: 'unavailable' } : {}),
        },
      });
      await journal.finish(
        seq,
        {
          status: StepStatus.Succeeded,
          result: { tool_calls: toolCalls, model_attempts: result.attempts },
          usage,
          messageId: appended.id,
        },
        tx,
      );
      if (warnings.length) await this.saveWarnings(tx, run, warnings);
      return appended;
    });
    this.stepTime.observe({ kind: 'llm' }, (Date.now() - started) / 1000);
    crashPoint('agent:llm-finished');
    ctx.publish('message_completed', { message: messageDtoOf(message) });
    // Each call's step is the turn's seq + its position (see toolCalls).
    for (const [i, call] of toolCalls.entries())
      ctx.publish('tool_call', {
        step: seq + 1 + i,
        turn_step: seq,
        tool_call_id: call.id,
        tool: call.name,
        args: call.args,
      });
    return null;
  }

  /**
   * The tool calls of one model turn, from the journal: finished ones are skipped, a read left
   * started runs again, a write or command left started is settled as unknown_outcome. Reads
   * run in parallel, writes and commands one at a time, in order. A call that parks stops the
   * turn there: the run parks, and resumes with the rest.
   */
  private async toolCalls(
    ctx: RunContext,
    agent: Agent,
    box: ToolBox,
    turnSeq: number,
    calls: ToolCallRecord[],
    steps: RunStep[],
  ): Promise<RunOutcome | null> {
    const bySeq = new Map(steps.map((s) => [s.seq, s]));
    let delegates = 0;
    const todo = calls.map((call, i) => ({
      call,
      seq: turnSeq + 1 + i,
      step: bySeq.get(turnSeq + 1 + i),
      effect: effectOf(
        call.name,
        box.tools.find((t) => t.name === call.name),
      ),
      // Its place among the turn's delegate calls (the fan-out limit counts them).
      delegateIndex: call.name === DELEGATE ? delegates++ : -1,
    }));
    // Switched already (the run stopped before it could complete): the switch was its last step.
    const switched = todo.find(
      (t) => t.call.name === SWITCH_AGENT && t.step?.status === StepStatus.Succeeded,
    );
    if (switched) return this.completedBySwitch(ctx);
    let i = 0;
    while (i < todo.length) {
      if (todo[i].step?.status === StepStatus.Awaiting) {
        // Approved while parked: it runs now, alone, with exactly the approved arguments.
        const approved = await this.approvedCall(todo[i].seq, todo[i].step!, todo[i].call);
        if (approved) {
          const commit = await this.toolCall(
            ctx,
            agent,
            box,
            todo[i].seq,
            approved.call,
            todo[i].step,
            approved.digest,
          );
          const parked = await commit();
          if (parked) return parked;
          i++;
          continue;
        }
        const waiting = await this.stillWaiting(
          ctx,
          agent,
          todo[i].seq,
          todo[i].call,
          todo[i].step!,
        );
        if (waiting) return waiting;
        i++;
        continue;
      }
      if (todo[i].call.name === DELEGATE) {
        // Consecutive delegate calls all start their child before the run parks: they run in
        // parallel (each in a lane of its own, within its agent's concurrency limit).
        let parked: RunOutcome | null = null;
        while (
          i < todo.length &&
          todo[i].call.name === DELEGATE &&
          todo[i].step?.status !== StepStatus.Awaiting
        ) {
          const item = todo[i];
          const commit = await this.toolCall(
            ctx,
            agent,
            box,
            item.seq,
            item.call,
            item.step,
            undefined,
            { delegateIndex: item.delegateIndex },
          );
          const outcome = await commit();
          if (outcome?.kind === 'parked') parked = outcome;
          else if (outcome) return outcome;
          i++;
        }
        if (parked) return parked;
        continue;
      }
      // A batch: consecutive reads together, anything else alone.
      const batch = [todo[i]];
      if (todo[i].effect === StepEffect.Read)
        while (
          i + batch.length < todo.length &&
          todo[i + batch.length].effect === StepEffect.Read &&
          todo[i + batch.length].step?.status !== StepStatus.Awaiting
        )
          batch.push(todo[i + batch.length]);
      // Executed together; journalled (with their messages) in call order, so the conversation
      // reads in step order. (A read whose result was not journalled yet runs again after a crash.)
      const commits = await Promise.all(
        batch.map((item) => this.toolCall(ctx, agent, box, item.seq, item.call, item.step)),
      );
      for (const commit of commits) {
        const parked = await commit();
        if (parked) return parked;
      }
      i += batch.length;
    }
    return null;
  }

  /**
   * A call waiting since the run parked: still waiting (park again, as it parked), or resolved. A
   * call waiting for child runs is resolved here, with their outcomes, once none is active.
   */
  private async stillWaiting(
    ctx: RunContext,
    agent: Agent,
    seq: number,
    call: ToolCallRecord,
    step: RunStep,
  ): Promise<RunOutcome | null> {
    const park =
      step.result?.park === 'awaiting_children' ? 'awaiting_children' : 'awaiting_approval';
    const reason = String(step.result?.reason ?? 'waiting for a tool call to be resolved');
    if (park === 'awaiting_approval') {
      // Decided against while parked: the model is told, whichever way the run got here.
      const approval = await this.queries.execute(new GetStepApprovalQuery(ctx.run.id, seq));
      const refusal = approval ? refusalOf(approval) : null;
      if (!refusal) return { kind: 'parked', status: park, reason };
      await this.recordResult(ctx, agent, seq, call, StepStatus.Failed, {
        error: refusal.code,
        message: refusal.message,
      });
      return null;
    }
    // A delegate call waits for its own child.
    const delegated = await this.handoffs.childOutcome(ctx.run, step);
    if (delegated?.active) return { kind: 'parked', status: park, reason };
    if (delegated && !delegated.active) {
      await this.recordResult(ctx, agent, seq, call, delegated.status, delegated.result);
      ctx.publish('delegation_finished', {
        step: seq,
        child_run_id: step.result?.child_run_id,
        status: delegated.status,
      });
      return null;
    }
    const children = await this.queries.execute(new ListChildRunsQuery(ctx.run.id));
    if (children.some((c) => !FINAL_RUN_STATUSES.includes(c.status)))
      return { kind: 'parked', status: park, reason };
    const outcomes = children.map((c) => ({
      run_id: c.id,
      agent: c.agentName,
      status: c.status,
      output_message_id: c.outputMessageId,
      error: c.error,
    }));
    const ok = children.every((c) => c.status === 'completed');
    await this.recordResult(ctx, agent, seq, call, ok ? StepStatus.Succeeded : StepStatus.Failed, {
      children: outcomes,
    });
    return null;
  }

  /**
   * Runs one tool call (or settles it from the journal) and returns how to journal its outcome:
   * the caller commits the outcomes of a batch in call order. The policy decides before anything
   * is journalled as started: a refused call never looks interrupted.
   */
  private async toolCall(
    ctx: RunContext,
    agent: Agent,
    box: ToolBox,
    seq: number,
    modelCall: ToolCallRecord,
    step: RunStep | undefined,
    /** Set when the call runs on an approval: the digest its arguments must have. */
    approvedDigest?: string,
    turn: { delegateIndex?: number } = {},
  ): Promise<() => Promise<RunOutcome | null>> {
    const { journal } = ctx;
    // A step taken over after a crash runs with the arguments it was journalled with (the
    // approved ones, when an approval edited them).
    const call =
      step?.status === StepStatus.Started && step.args
        ? { ...modelCall, args: step.args }
        : modelCall;
    // Taken over after a crash while running on its approval: it still runs on that approval.
    if (step?.status === StepStatus.Started && approvedDigest === undefined)
      approvedDigest = await this.approvedDigestOf(ctx.run.id, seq, call.args);
    const tool = box.tools.find((t) => t.name === call.name);
    const effect = effectOf(call.name, tool);
    const done = async () => null;
    const start = {
      seq,
      kind: StepKind.Tool,
      name: call.name,
      toolCallId: call.id,
      args: call.args,
      effect,
    };
    if (step && FINISHED_STEP_STATUSES.includes(step.status)) {
      // Finished (e.g. resolved while the run was parked) but its message not yet written.
      if (step.messageId) return done;
      return async () => {
        await this.recordResult(
          ctx,
          agent,
          seq,
          call,
          step.status,
          step.result ?? step.error ?? {},
          'link',
        );
        return null;
      };
    }
    const toolContext = this.toolContext(ctx, agent, box, seq);
    if (
      step?.status === StepStatus.Started &&
      effect !== StepEffect.Read &&
      effect !== StepEffect.None
    ) {
      const intent = (step.result as { intent?: Record<string, unknown> } | null)?.intent;
      // A check that cannot tell (the workspace unreadable) is an unknown outcome, not a crash.
      const recovered =
        intent && tool?.check
          ? await tool.check(intent, toolContext).catch(() => ({ state: 'diverged' as const }))
          : undefined;
      // Planned, and the workspace shows it done: report it as it would have been reported.
      if (recovered?.state === 'applied')
        return async () => {
          await this.recordResult(ctx, agent, seq, call, StepStatus.Succeeded, {
            output: recovered.output,
          });
          return null;
        };
      // Planned and not applied yet (the workspace still holds the versions it planned over):
      // apply it now, once. Anything else may or may not have happened: never re-apply it.
      if (recovered?.state !== 'pending')
        return async () => {
          await this.recordResult(ctx, agent, seq, call, StepStatus.UnknownOutcome, {
            error: 'UNKNOWN_OUTCOME',
            message:
              'This call was interrupted before it reported back; whether it took effect is unknown. Check the current state before trying again.',
          });
          return null;
        };
    }

    // A step already journalled (awaiting its approval) ends; a new one is written ended.
    const refuse = (error: string, message: string) => async () => {
      await this.recordResult(
        ctx,
        agent,
        seq,
        call,
        StepStatus.Failed,
        { error, message },
        step ? undefined : start,
      );
      return null;
    };
    if (!tool) {
      const known = findTool(call.name) !== undefined;
      return refuse(
        known ? 'TOOL_NOT_AVAILABLE' : 'UNKNOWN_TOOL',
        known
          ? `The tool "${call.name}" is not available yet`
          : `There is no tool named "${call.name}"`,
      );
    }
    if (call.invalid) return refuse('INVALID_ARGUMENTS', call.invalid);
    const invalid = this.tools.validate(tool, call.args);
    if (invalid) return refuse('INVALID_ARGUMENTS', invalid);
    // The policy decides on the paths as the workspace resolves them, not as the model wrote them.
    const targets = tool.targets
      ? await this.guardTool(ctx, () => tool.targets!(call.args, toolContext))
      : undefined;
    if (targets && !Array.isArray(targets))
      return targets.kind === 'error'
        ? refuse(targets.code, targets.message)
        : refuse('TOOL_ERROR', 'The call could not be resolved');
    const decision = decideToolCall(
      agent.toolPolicy(),
      { tool: call.name, args: call.args },
      { resolvedPaths: targets, project: box.project, approved: approvedDigest !== undefined },
    );
    if (decision.outcome === 'deny') return refuse('TOOL_DENIED', decision.reason);
    // Hand-offs change nothing in the world and their own rules bound them: never parked for a
    // human (an approval there could not be honoured: the call ends or parks the run itself).
    const handoff = call.name === SWITCH_AGENT || call.name === DELEGATE;
    if (decision.outcome === 'needs_approval' && !handoff)
      return () => this.requestApproval(ctx, agent, box, start, effect, decision.reason);
    // Checked again right before it runs: never an argument the user did not approve.
    if (approvedDigest !== undefined && argsDigest(call.args) !== approvedDigest)
      return refuse('APPROVAL_DIGEST_MISMATCH', 'The arguments differ from the approved ones');
    if (call.name === SWITCH_AGENT) {
      // The journal as it is now (a call of this turn may have been approved meanwhile).
      const current = (await ctx.journal.list()).filter((s) => s.seq !== seq);
      const checked = await this.handoffs.checkSwitch(ctx.run, agent, call.args, current);
      if ('error' in checked) return refuse(checked.error, checked.message);
      return () => this.switchAgent(ctx, agent, seq, call, start, step, checked.target);
    }
    if (call.name === DELEGATE) {
      const checked = await this.handoffs.checkDelegation(
        ctx.run,
        call.args,
        turn.delegateIndex ?? 0,
      );
      if ('error' in checked) return refuse(checked.error, checked.message);
      return () => this.delegate(ctx, agent, call, start, checked.target);
    }

    // The call acts on the paths the policy decided on.
    const acting: ToolContext = targets ? { ...toolContext, resolvedPaths: targets } : toolContext;
    // A change-making tool plans first: the plan goes into the journal with the step's start.
    const plan = tool.plan
      ? await this.guardTool(ctx, () => tool.plan!(call.args, acting))
      : undefined;
    if (plan && 'kind' in plan) {
      if (plan.kind === 'error') return refuse(plan.code, plan.message);
      return refuse('TOOL_ERROR', 'The tool could not plan this call');
    }
    const { fresh } =
      step?.status === StepStatus.Awaiting
        ? await journal.resumeAwaiting({ ...start, args: call.args, intent: plan?.intent })
        : await journal.start({ ...start, intent: plan?.intent });
    // Already ended by another execution of this run: nothing to run; the journal is re-read.
    if (!fresh) return done;
    crashPoint('agent:tool-started');
    const started = Date.now();
    const result = await this.guardTool(ctx, () =>
      plan ? plan.apply() : tool.execute(call.args, acting),
    );
    this.toolDuration.observe({ tool: call.name }, (Date.now() - started) / 1000);
    crashPoint('agent:tool-executed');
    return async () => {
      if (result.kind === 'park') {
        await journal.finish(seq, {
          status: StepStatus.Awaiting,
          result: { park: result.status, reason: result.reason },
        });
        return { kind: 'parked', status: result.status, reason: result.reason };
      }
      const ok = result.kind === 'ok';
      await this.recordResult(
        ctx,
        agent,
        seq,
        call,
        ok ? StepStatus.Succeeded : StepStatus.Failed,
        ok ? { output: result.output } : { error: result.code, message: result.message },
      );
      this.stepTime.observe({ kind: 'tool' }, (Date.now() - started) / 1000);
      crashPoint('agent:tool-finished');
      return null;
    };
  }

  /**
   * Parks the call for a human: the step `awaiting` and its approval in one transaction, then
   * the approval's deadline job and the `approval_requested` event.
   */
  private async requestApproval(
    ctx: RunContext,
    agent: Agent,
    box: ToolBox,
    start: StepStart,
    effect: StepEffect,
    reason: string,
  ): Promise<RunOutcome> {
    const { run, journal } = ctx;
    const kind = effect === StepEffect.Exec ? ApprovalKind.Command : ApprovalKind.Tool;
    const approval = await journal.fenced(async (tx) => {
      await journal.record(
        start,
        { status: StepStatus.Awaiting, result: { park: 'awaiting_approval', reason } },
        tx,
      );
      return this.approvals.open(tx, {
        projectId: run.projectId,
        ownerId: run.ownerId,
        sessionId: run.sessionId,
        runId: run.id,
        stepSeq: start.seq,
        agentId: agent.id,
        kind,
        toolName: start.name,
        args: start.args ?? {},
        reason,
        deadlineSeconds: box.settings.approval_deadline_seconds,
        defaultAction:
          box.settings.approval_default_actions[kind === ApprovalKind.Command ? 'command' : 'tool'],
      });
    });
    if (approval.status === ApprovalStatus.Pending) {
      this.approvalsRequested.inc({ kind });
      await this.deadlines.schedule(approval);
      ctx.publish('approval_requested', { approval: toApprovalDto(approval) });
    }
    return { kind: 'parked', status: 'awaiting_approval', reason };
  }

  /** The call to run for a step parked on an approval that was approved, or null. */
  private async approvedCall(
    seq: number,
    step: RunStep,
    call: ToolCallRecord,
  ): Promise<{ call: ToolCallRecord; digest: string } | null> {
    if (step.result?.park !== 'awaiting_approval') return null;
    const approval = await this.queries.execute(new GetStepApprovalQuery(step.runId, seq));
    if (approval?.status !== ApprovalStatus.Approved) return null;
    return {
      call: { ...call, args: approval.editedArgs ?? approval.args },
      digest: approval.editedDigest ?? approval.argsDigest,
    };
  }

  /** The approved digest of a started step's arguments, if it started on an approval. */
  private async approvedDigestOf(
    runId: string,
    seq: number,
    args: Record<string, unknown>,
  ): Promise<string | undefined> {
    const approval = await this.queries.execute(new GetStepApprovalQuery(runId, seq));
    if (approval?.status !== ApprovalStatus.Approved) return undefined;
    const digest = approval.editedDigest ?? approval.argsDigest;
    // Only the arguments it was approved with; anything else is checked (and refused) as usual.
    return argsDigest(args) === digest ? digest : undefined;
  }

  /** The agent's tools in this project: what is registered, and the project's limits. */
  private toolBox(agent: Agent, settings: ProjectSettings, tools: Tool[]): ToolBox {
    const denied = settings.agent_denied_paths;
    return {
      tools,
      project: {
        commandsEnabled: settings.commands_enabled,
        commandsNeedApproval: settings.commands_need_approval,
        deniedPaths: denied,
        approvalTools: settings.approval_tools,
      },
      settings,
      deniedPaths: denied,
    };
  }

  private toolContext(ctx: RunContext, agent: Agent, box: ToolBox, seq: number): ToolContext {
    return {
      deniedPaths: box.deniedPaths,
      runId: ctx.run.id,
      sessionId: ctx.run.sessionId,
      projectId: ctx.run.projectId,
      ownerId: ctx.run.ownerId,
      agentId: agent.id,
      stepSeq: seq,
      signal: ctx.signal,
      publish: (type, payload) => ctx.publish(type, { ...payload, step: seq }),
    };
  }

  /** A tool that throws (rather than returning an error) is a tool error, unless the run stops. */
  private async guardTool<T>(ctx: RunContext, work: () => Promise<T>): Promise<T | ToolResult> {
    try {
      return await work();
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      this.logger.warn(`Tool failed: ${(error as Error).message}`);
      return { kind: 'error', code: 'TOOL_ERROR', message: (error as Error).message };
    }
  }

  /**
   * The tool message and the step's outcome, in one fenced transaction. The step is `started`
   * (or awaiting) and ends here; or it never ran (refused, unavailable: `start` journals it
   * already ended); or it ended already, resolved from outside (`link`: only its message is new).
   */
  private async recordResult(
    ctx: RunContext,
    agent: Agent,
    seq: number,
    call: ToolCallRecord,
    status: StepStatus,
    result: unknown,
    start?: StepStart | 'link',
    /** More to write in the same transaction (a hand-off's records), with the lane it locks. */
    extra?: { lane: string; write: (tx: FencedTx) => Promise<void> },
  ): Promise<void> {
    const { run, journal } = ctx;
    // A command's output may hold NUL bytes: stored (and shown) repaired, never a failed run.
    result = toStorable(result);
    // The model reads at most TOOL_OUTPUT_MAX_BYTES of it; the step keeps it whole.
    // Canonical (RFC 8785): a result recovered from the journal (jsonb reorders keys) reads the
    // same to the model as the original.
    const json = canonicalize(result) ?? 'null';
    const bytes = Buffer.byteLength(json);
    const cap = this.config.workspace.toolOutputBytes;
    const content =
      bytes <= cap
        ? json
        : `${headOf(json, cap)}\n[... truncated: ${bytes} bytes in total; the whole result is in step ${seq} of this run]`;
    const error =
      status === StepStatus.Failed || status === StepStatus.UnknownOutcome
        ? {
            code: String((result as { error?: unknown }).error ?? 'TOOL_ERROR'),
            message: String((result as { message?: unknown }).message ?? ''),
          }
        : null;
    await journal.fenced(
      async (tx) => {
        const message = await this.messages.append(tx, {
          sessionId: run.sessionId,
          role: MessageRole.Tool,
          content,
          agentId: agent.id,
          agentName: agent.name,
          runId: run.id,
          stepSeq: seq,
          toolCallId: call.id,
          internal: run.kind === RunKind.Task,
          metadata: { tool: call.name, status },
        });
        if (start === 'link')
          await tx
            .getConnection()
            .execute(
              'update run_steps set message_id = ? where run_id = ? and seq = ?',
              [message.id, run.id, seq],
              'run',
              tx.getTransactionContext(),
            );
        else if (start)
          await journal.record(start, { status, result, error, messageId: message.id }, tx);
        else await journal.finish(seq, { status, result, error, messageId: message.id }, tx);
        await extra?.write(tx);
      },
      extra ? { lane: extra.lane } : {},
    );
    this.toolCallCount.inc({ tool: call.name, outcome: status });
    ctx.publish('tool_result', {
      step: seq,
      tool_call_id: call.id,
      tool: call.name,
      status,
      bytes,
      preview: headOf(json, TOOL_RESULT_PREVIEW_BYTES),
      truncated: bytes > TOOL_RESULT_PREVIEW_BYTES,
    });
  }

  /**
   * switch_agent: the step, AgentSwitchRequested and the held continuation commit together, and
   * the run completes with the switch as its last step. A message handed around too often fails
   * the run instead (a loop of agents).
   */
  private async switchAgent(
    ctx: RunContext,
    agent: Agent,
    seq: number,
    call: ToolCallRecord,
    start: StepStart,
    step: RunStep | undefined,
    target: Agent,
  ): Promise<RunOutcome> {
    const { run, journal } = ctx;
    if (await journal.fenced((tx) => this.handoffs.switchLimitReached(tx, run)))
      return {
        kind: 'failed',
        error: {
          code: 'SWITCH_LIMIT_EXCEEDED',
          message: `The message was handed between agents ${this.config.handoffs.maxSwitchesPerMessage} times already (MAX_SWITCHES_PER_MESSAGE)`,
        },
        usage: sumUsage((await journal.list()).filter((s) => s.kind === StepKind.Llm)),
      };
    let continuationId = '';
    await this.recordResult(
      ctx,
      agent,
      seq,
      call,
      StepStatus.Succeeded,
      { output: { switched_to: target.name, status: 'switching' } },
      step ? undefined : start,
      {
        lane: run.lane,
        write: async (tx) => {
          continuationId = await this.handoffs.requestSwitch(tx, run, agent, target, call.args);
        },
      },
    );
    crashPoint('agent:switch-requested');
    this.logger.log(
      `Run ${run.id}: ${agent.name} hands over to ${target.name} (${continuationId})`,
    );
    return this.completedBySwitch(ctx);
  }

  private async completedBySwitch(ctx: RunContext): Promise<RunOutcome> {
    const turns = (await ctx.journal.list()).filter((s) => s.kind === StepKind.Llm);
    return {
      kind: 'completed',
      outputMessageId: turns.at(-1)?.messageId ?? undefined,
      usage: sumUsage(turns),
    };
  }

  /**
   * delegate: the child run and the step awaiting it commit together (a retry never starts a
   * second child), then the child is enqueued and the call parks until it ends.
   */
  private async delegate(
    ctx: RunContext,
    agent: Agent,
    call: ToolCallRecord,
    start: StepStart,
    target: Agent,
  ): Promise<RunOutcome> {
    const { run, journal } = ctx;
    const reason = `waiting for ${target.name}'s result`;
    // The run's own lane first (its row is updated): the lock order of cancellations.
    const spawned = await journal.fenced(
      async (tx) => {
        const child = await this.handoffs.spawnChild(tx, run, agent, target, call.args, start.seq);
        await journal.record(
          start,
          {
            status: StepStatus.Awaiting,
            result: {
              park: 'awaiting_children',
              reason,
              child_run_id: child.childId,
              agent: target.name,
            },
          },
          tx,
        );
        return child;
      },
      { lane: run.lane },
    );
    crashPoint('agent:delegated');
    if (spawned.dispatched) await this.lifecycle.enqueue(spawned.dispatched);
    ctx.publish('delegation_started', {
      step: start.seq,
      tool_call_id: call.id,
      child_run_id: spawned.childId,
      agent: target.name,
    });
    return { kind: 'parked', status: 'awaiting_children', reason };
  }

  /**
   * A delegated task's answer: checked against the delegator's `returns` schema and kept as the
   * run's result. An answer that does not match gets one repair turn (the seq of the repair step
   * is returned: the next model turn follows it); a second miss fails the task with a typed error.
   */
  private async finishTask(
    ctx: RunContext,
    agent: Agent,
    task: TaskInput,
    last: RunStep,
    turns: RunStep[],
    steps: RunStep[],
  ): Promise<RunOutcome | number> {
    const { run, journal } = ctx;
    const repair = steps.find((s) => s.kind === StepKind.Task && s.name === RESULT_REPAIR);
    // Repair asked for, its turn not taken yet (a crash in between).
    if (repair && repair.seq > last.seq) return repair.seq;
    const reply = last.messageId ? await this.messages.get(run.sessionId, last.messageId) : null;
    const checked = this.handoffs.checkResult(
      task,
      reply?.content ?? '',
      repair ? 'repair' : 'first',
    );
    if (checked.ok) {
      await journal.fenced((tx) => this.saveWarnings(tx, run, [], { result: checked.result }));
      return {
        kind: 'completed',
        outputMessageId: last.messageId ?? undefined,
        usage: sumUsage(turns),
      };
    }
    if (repair)
      return {
        kind: 'failed',
        error: { code: 'RESULT_SCHEMA_INVALID', message: checked.errors },
        usage: sumUsage(turns),
      };
    const seq = last.seq + 1;
    await journal.fenced(async (tx) => {
      const message = await this.messages.append(tx, {
        sessionId: run.sessionId,
        role: MessageRole.User,
        content: `${REPAIR_MARKER} your answer does not match the JSON Schema it must follow (${checked.errors}). Answer again with only the JSON value.\n\nSchema: ${JSON.stringify(task.returns)}`,
        agentId: agent.id,
        agentName: agent.name,
        runId: run.id,
        stepSeq: seq,
        internal: true,
        metadata: { result_repair: true },
      });
      await journal.record(
        { seq, kind: StepKind.Task, name: RESULT_REPAIR },
        { status: StepStatus.Succeeded, result: { errors: checked.errors }, messageId: message.id },
        tx,
      );
    });
    return seq;
  }

  /** The final answer: memory, then the outcome (the engine completes the run). */
  private async finish(
    ctx: RunContext,
    agent: Agent,
    input: LoggedMessage,
    last: RunStep,
    turns: RunStep[],
    warnings: RunWarning[],
  ): Promise<RunOutcome> {
    const { run } = ctx;
    crashPoint('agent:final');
    if (!run.state.memory_stored) {
      const reply = last.messageId ? await this.messages.get(run.sessionId, last.messageId) : null;
      try {
        await this.memory.remember(
          {
            ownerId: agent.ownerId,
            agentId: agent.id,
            projectId: agent.project.id,
            memoryEnabled: agent.memoryEnabled,
            memoryTopK: agent.memoryTopK,
          },
          {
            userMessage: input.content,
            assistantMessage: reply?.content ?? '',
            metadata: { run_id: run.id, session_id: run.sessionId },
          },
          // The memory's id is the run's: a retried run overwrites rather than adds.
          run.id,
        );
        // Deleted meanwhile? Its forget handler may already have run: undo this write.
        if (!(await this.agentOf(run)))
          await this.memory.delete({ ownerId: agent.ownerId, agentId: agent.id }, run.id);
      } catch (error) {
        if (!(error instanceof MemoryUnavailableError)) throw error;
        warnings.push(this.memoryDegraded('remember', run, error));
      }
      await ctx.journal.fenced((tx) =>
        this.saveWarnings(tx, run, warnings, { memory_stored: true }),
      );
      crashPoint('agent:remembered');
    }
    return {
      kind: 'completed',
      outputMessageId: last.messageId ?? undefined,
      usage: sumUsage(turns),
    };
  }

  private tooManySteps(agent: Agent, turns: RunStep[]): RunOutcome {
    return {
      kind: 'failed',
      usage: sumUsage(turns),
      error: {
        code: 'MAX_STEPS_EXCEEDED',
        message: `The run took more than ${agent.maxSteps} model turns (max_steps)`,
      },
    };
  }

  /** Run state (in the fenced transaction): warnings so far, deduplicated, and flags. */
  private async saveWarnings(
    tx: EntityManager,
    run: Run,
    warnings: RunWarning[],
    flags: Record<string, unknown> = {},
  ): Promise<void> {
    const merged = [...(run.state.warnings ?? [])];
    for (const w of warnings)
      if (!merged.some((m) => m.code === w.code && m.message === w.message)) merged.push(w);
    run.state = { ...run.state, ...flags, warnings: merged };
    await tx
      .getConnection()
      .execute(
        `update runs set state = state || ?::jsonb where id = ?`,
        [JSON.stringify({ ...flags, warnings: merged }), run.id],
        'run',
        tx.getTransactionContext(),
      );
  }

  private memoryDegraded(
    operation: 'recall' | 'remember',
    run: Run,
    error: MemoryUnavailableError,
  ): RunWarning {
    this.memoryUnavailable.inc({ operation, component: error.component });
    this.memoryWarnings.warn(
      `${operation}:${error.component}`,
      `Memory ${operation} unavailable (run ${run.id} goes on without it): ${error.message}`,
    );
    return {
      code: error.code,
      message: `Memory ${operation} failed (${error.component === 'embeddings' ? 'embeddings endpoint' : 'memory store'}); the run ${operation === 'recall' ? 'answered without memory' : 'was not stored in memory'}`,
    };
  }

  private async agentOf(run: Run): Promise<Agent | null> {
    try {
      return await this.queries.execute(
        new GetOwnedAgentQuery(run.projectId, run.agentId, run.ownerId),
      );
    } catch (error) {
      if (error instanceof ResourceNotFoundError) return null;
      throw error;
    }
  }
}

function toLangChain(m: LoggedMessage): BaseMessage {
  // A run's own user turn: a delegated task's repair request.
  if (m.role === MessageRole.User) return new HumanMessage(m.content);
  if (m.role === MessageRole.Tool)
    return new ToolMessage({
      tool_call_id: m.toolCallId ?? '',
      name: typeof m.metadata.tool === 'string' ? m.metadata.tool : undefined,
      content: m.content,
    });
  return new AIMessage({
    content: m.content,
    tool_calls: (m.toolCalls ?? []).map((c) => ({
      id: c.id,
      name: c.name,
      args: c.args,
      type: 'tool_call' as const,
    })),
  });
}

function sumUsage(turns: RunStep[]): RunUsage | null {
  const used = turns.filter((t) => t.usage);
  if (!used.length) return null;
  return {
    input_tokens: used.reduce((n, t) => n + (t.usage?.input_tokens ?? 0), 0),
    output_tokens: used.reduce((n, t) => n + (t.usage?.output_tokens ?? 0), 0),
  };
}
