import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Counter } from 'prom-client';
import { APP_CONFIG, type AppConfig, DomainEvents } from '@codelab/platform';
import { type Agent, FindProjectAgentQuery } from '@codelab/agents';
import {
  AGENT_SWITCH_REQUESTED,
  type AgentSwitchRequestedPayload,
  DELEGATION_RESULTS_INVALID,
  DELEGATIONS,
} from '@codelab/handoffs';
import {
  type Dispatch,
  FINAL_RUN_STATUSES,
  ListChildRunsQuery,
  type Run,
  RunKind,
  RunLanes,
  RunMode,
  type RunStep,
  StepStatus,
} from '@codelab/runs';

/** What a delegated child run is asked (its `input.task`). */
export interface TaskInput {
  instruction: string;
  returns: Record<string, unknown> | null;
  from_agent_id: string;
  from_agent_name: string;
  parent_step: number;
  /** Which attempt this is (a plan task retried). */
  attempt?: number;
}

/** What a switch's continuation knows (its `input.switch`). */
export interface HandoverInput {
  from_agent_id: string;
  from_agent_name: string;
  explanation: string;
  note: string | null;
}

export type Refusal = { error: string; message: string };

/** A tool error for the model: the call was refused, the run goes on. */
const refused = (error: string, message: string): Refusal => ({ error, message });

export const taskOf = (run: Run): TaskInput | null =>
  (run.input?.task as TaskInput | undefined) ?? null;
export const handoverOf = (run: Run): HandoverInput | null =>
  (run.input?.switch as HandoverInput | undefined) ?? null;

const newAjv = () => new Ajv({ allErrors: true, strict: false, addUsedSchema: false });

/** The step result of a repair request (a delegated result that did not match `returns`). */
export const RESULT_REPAIR = 'result_repair';

/**
 * The two hand-offs an agent can make from a run, checked here and written in the run's journal
 * transaction by the agent runtime:
 * - switch_agent: the run ends; a held continuation for the other agent is reserved in the
 *   session's lane and AgentSwitchRequested is recorded (the switch saga applies it);
 * - delegate: a child run (kind task, a lane of its own) is spawned and the call parks until the
 *   child ends; its result is checked against the delegator's `returns` schema.
 */
@Injectable()
export class HandOffs {
  // Schemas come from the model: no registry of $ids (a repeated $id is not an error), and a
  // fresh instance (and its internal cache) once many distinct schemas were compiled.
  private ajv = newAjv();
  private readonly schemas = new Map<string, ValidateFunction>();

  constructor(
    private readonly em: EntityManager,
    private readonly queries: QueryBus,
    private readonly lanes: RunLanes,
    private readonly domainEvents: DomainEvents,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(DELEGATIONS) private readonly delegations: Counter<string>,
    @InjectMetric(DELEGATION_RESULTS_INVALID) private readonly invalidResults: Counter<string>,
  ) {}

  /** The project's agent by name (or id); never another project's or another user's. */
  async target(run: Run, name: unknown): Promise<Agent | null> {
    if (typeof name !== 'string' || !name) return null;
    return this.queries.execute(new FindProjectAgentQuery(run.projectId, run.ownerId, name));
  }

  /** Checks a switch_agent call; a refusal is the model's tool error. */
  async checkSwitch(
    run: Run,
    agent: Agent,
    args: Record<string, unknown>,
    steps: RunStep[],
  ): Promise<{ target: Agent } | Refusal> {
    if (run.kind !== RunKind.Agent || !run.inputMessageId)
      return refused(
        'SWITCH_NOT_ALLOWED',
        'A delegated task cannot hand the conversation over; return your result instead',
      );
    if (steps.some((s) => s.status === StepStatus.Awaiting))
      return refused(
        'APPROVAL_PENDING',
        'This run has a call waiting for approval; it cannot switch agents now',
      );
    const target = await this.target(run, args.agent);
    if (!target)
      return refused(
        'UNKNOWN_AGENT',
        `There is no agent named "${String(args.agent)}" in this project`,
      );
    if (target.id === agent.id)
      return refused('ALREADY_ACTIVE', `You are ${agent.name}: the conversation is already yours`);
    return { target };
  }

  /** Whether this message's switch chain is at its limit (the run then fails). */
  async switchLimitReached(tx: EntityManager, run: Run): Promise<boolean> {
    const chain = await this.lanes.continuations(tx, run.lane, run.inputMessageId!);
    return chain >= this.config.handoffs.maxSwitchesPerMessage;
  }

  /**
   * In the journal's transaction: AgentSwitchRequested and the continuation, held in the session's
   * lane right behind this run (same lane position, created after it).
   */
  async requestSwitch(
    tx: EntityManager,
    run: Run,
    from: Agent,
    target: Agent,
    args: Record<string, unknown>,
  ): Promise<string> {
    const continuationId = randomUUID();
    const handover: HandoverInput = {
      from_agent_id: from.id,
      from_agent_name: from.name,
      explanation: String(args.reason ?? ''),
      note: typeof args.note === 'string' && args.note ? args.note : null,
    };
    await this.lanes.spawn(tx, {
      id: continuationId,
      sessionId: run.sessionId,
      projectId: run.projectId,
      ownerId: run.ownerId,
      agentId: target.id,
      agentName: target.name,
      kind: RunKind.Agent,
      mode: RunMode.Direct,
      lane: run.lane,
      laneSeq: run.laneSeq,
      inputMessageId: run.inputMessageId,
      input: { switch: handover },
      held: true,
    });
    const payload: AgentSwitchRequestedPayload = {
      session_id: run.sessionId,
      project_id: run.projectId,
      owner_id: run.ownerId,
      run_id: run.id,
      input_message_id: run.inputMessageId,
      from_agent_id: from.id,
      from_agent_name: from.name,
      to_agent_id: target.id,
      to_agent_name: target.name,
      reason: 'tool',
      explanation: handover.explanation,
      note: handover.note,
      continuation_run_id: continuationId,
    };
    await this.domainEvents.record(tx, {
      type: AGENT_SWITCH_REQUESTED,
      aggregateType: 'session',
      aggregateId: run.sessionId,
      ownerId: run.ownerId,
      payload: payload as unknown as Record<string, unknown>,
    });
    return continuationId;
  }

  /**
   * Checks a delegate call: the agent exists in the project, the chain stays within the depth
   * limit and never returns to an agent already in it (A -> B -> A), the turn within its fan-out,
   * and `returns` is a JSON Schema that compiles.
   */
  async checkDelegation(
    run: Run,
    args: Record<string, unknown>,
    indexInTurn: number,
  ): Promise<{ target: Agent } | Refusal> {
    const limits = this.config.handoffs;
    const refuse = (error: string, message: string) => {
      this.delegations.inc({ outcome: 'refused' });
      return refused(error, message);
    };
    if (indexInTurn >= limits.maxDelegationFanout)
      return refuse(
        'FANOUT_EXCEEDED',
        `At most ${limits.maxDelegationFanout} delegate calls per turn; this one was not started`,
      );
    const target = await this.target(run, args.agent);
    if (!target)
      return refuse(
        'UNKNOWN_AGENT',
        `There is no agent named "${String(args.agent)}" in this project`,
      );
    const chain = await this.lanes.ancestry(this.em.fork(), run.id);
    if (chain.some((r) => r.agent_id === target.id))
      return refuse(
        'DELEGATION_CYCLE',
        `${target.name} is already working on this request (delegating back would loop)`,
      );
    if (chain.length > limits.maxDelegationDepth)
      return refuse(
        'DELEGATION_TOO_DEEP',
        `Delegations nest at most ${limits.maxDelegationDepth} deep`,
      );
    if (args.returns !== undefined) {
      try {
        this.validatorOf(args.returns as Record<string, unknown>);
      } catch (error) {
        return refuse(
          'INVALID_ARGUMENTS',
          `returns is not a valid JSON Schema: ${(error as Error).message}`,
        );
      }
    }
    return { target };
  }

  /** In the journal's transaction: the child run, dispatched in a lane of its own. */
  async spawnChild(
    tx: EntityManager,
    run: Run,
    from: Agent,
    target: Agent,
    args: Record<string, unknown>,
    seq: number,
  ): Promise<{ childId: string; dispatched: Dispatch | null }> {
    const childId = randomUUID();
    const task: TaskInput = {
      instruction: String(args.instruction),
      returns: (args.returns as Record<string, unknown> | undefined) ?? null,
      from_agent_id: from.id,
      from_agent_name: from.name,
      parent_step: seq,
    };
    const dispatched = await this.lanes.spawn(tx, {
      id: childId,
      sessionId: run.sessionId,
      projectId: run.projectId,
      ownerId: run.ownerId,
      agentId: target.id,
      agentName: target.name,
      kind: RunKind.Task,
      mode: RunMode.Task,
      lane: `run:${childId}`,
      laneSeq: 0,
      parentRunId: run.id,
      input: { task },
    });
    // Its end (cancelled, failed) then takes the children along.
    await tx
      .getConnection()
      .execute(
        `update runs set state = state || '{"delegated": true}'::jsonb where id = ?`,
        [run.id],
        'run',
        tx.getTransactionContext(),
      );
    this.delegations.inc({ outcome: 'started' });
    return { childId, dispatched };
  }

  /** A parked delegate step's child: still active, or how it ended (the tool's result). */
  async childOutcome(
    run: Run,
    step: RunStep,
  ): Promise<
    | { active: true }
    | {
        active: false;
        status: StepStatus.Succeeded | StepStatus.Failed;
        result: Record<string, unknown>;
      }
    | null
  > {
    const childId = step.result?.child_run_id;
    if (typeof childId !== 'string') return null;
    const children = await this.queries.execute(new ListChildRunsQuery(run.id));
    const child = children.find((c) => c.id === childId);
    if (!child)
      return {
        active: false,
        status: StepStatus.Failed,
        result: { error: 'DELEGATION_FAILED', message: 'The delegated run is gone' },
      };
    if (!FINAL_RUN_STATUSES.includes(child.status)) return { active: true };
    this.delegations.inc({ outcome: child.status });
    if (child.status === 'completed')
      return {
        active: false,
        status: StepStatus.Succeeded,
        result: {
          output: { agent: child.agentName, run_id: child.id, result: child.state.result ?? null },
        },
      };
    const invalid = child.error?.code === 'RESULT_SCHEMA_INVALID';
    return {
      active: false,
      status: StepStatus.Failed,
      result: {
        error: invalid ? 'DELEGATION_RESULT_INVALID' : 'DELEGATION_FAILED',
        message: invalid
          ? `${child.agentName}'s result did not match the returns schema, also after one repair: ${child.error?.message ?? ''}`
          : `${child.agentName}'s task ended ${child.status}: ${child.error?.message ?? ''}`,
        run_id: child.id,
        child_status: child.status,
        child_error: child.error,
      },
    };
  }

  /**
   * A task's final answer against its `returns` schema: the JSON value (code fences allowed), or
   * what is wrong with it. Without a schema the answer is the text.
   */
  checkResult(
    task: TaskInput,
    text: string,
    attempt: 'first' | 'repair',
  ): { ok: true; result: unknown } | { ok: false; errors: string } {
    if (!task.returns) return { ok: true, result: text };
    const body = text.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/i, '$1');
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      this.invalidResults.inc({ attempt });
      return { ok: false, errors: 'the answer is not JSON' };
    }
    let validate: ValidateFunction;
    try {
      validate = this.validatorOf(task.returns);
    } catch (error) {
      return {
        ok: false,
        errors: `the returns schema does not compile: ${(error as Error).message}`,
      };
    }
    if (validate(value)) return { ok: true, result: value };
    this.invalidResults.inc({ attempt });
    return { ok: false, errors: this.ajv.errorsText(validate.errors, { dataVar: 'result' }) };
  }

  private validatorOf(schema: Record<string, unknown>): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.schemas.get(key);
    if (!validate) {
      if (this.schemas.size >= 1_000) {
        this.schemas.clear();
        this.ajv = newAjv();
      }
      validate = this.ajv.compile(schema);
      this.schemas.set(key, validate);
    }
    return validate;
  }
}
