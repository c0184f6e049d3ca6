import { Injectable, Logger } from '@nestjs/common';
import { CommandBus, EventBus, QueryBus } from '@nestjs/cqrs';
import {
  EntityManager,
  RequestContext,
  UniqueConstraintViolationException,
} from '@mikro-orm/postgresql';
import type { AIMessageChunk } from '@langchain/core/messages';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { ResourceNotFoundError, ThrottledLog } from '@codelab/platform';
import {
  type Agent,
  AgentStatus,
  GetOwnedAgentQuery,
  SetAgentStatusCommand,
} from '@codelab/agents';
import { ChatModelFactory, LlmError, ModelCaller } from '@codelab/llm';
import { MemoryService, MemoryUnavailableError } from '@codelab/memory';
import { toMessageDto, toRunDto } from '../dto/mappers';
import { ChatSession } from '../entities/chat-session.entity';
import { Message, MessageRole } from '../entities/message.entity';
import {
  FINAL_RUN_STATUSES,
  Run,
  type RunError,
  RunStatus,
  type RunWarning,
} from '../entities/run.entity';
import { SessionEvent } from '../events/session-events';
import {
  MEMORY_UNAVAILABLE,
  RUN_DURATION,
  RUN_QUEUE_WAIT,
  RUN_SLOT_WAITS,
  RUNS_ACTIVE,
  RUNS_FENCED,
  RUNS_FINISHED,
} from '../sessions.metrics';
import { PromptBuilder } from './prompt-builder';
import { RunCancellation, RunCancelledSignal } from './run-cancellation';
import { RunQueue } from './run-queue';
import { RunSlots, type SlotRequest } from './run-slots';
import { WorkerLiveness } from './worker-liveness';

export type ExecutionOutcome =
  { kind: 'done' } | { kind: 'wait'; delayMs: number } | { kind: 'dead_letter'; reason: string };

const MAX_WAIT_DELAY_MS = 2_000;
const TOKEN_BATCH_MS = 25;
// A warning per failing memory component, then one reminder per interval: "once per cause".
const MEMORY_WARNING_INTERVAL_MS = 10 * 60_000;

/** This execution's claim on a run: writes are fenced by the epoch it claimed. */
interface RunLease {
  runId: string;
  epoch: number;
}

/**
 * The execution lost its claim: its slot lease was voided and taken over (it was paused past its
 * liveness), or a newer execution claimed the run. It must stop without writing anything.
 */
export class RunLeaseLostError extends Error {
  constructor(runId: string) {
    super(`Run ${runId}: this execution lost its lease to a newer one`);
  }
}

const textOf = (message: AIMessageChunk) =>
  typeof message.content === 'string'
    ? message.content
    : message.content
        .map((p) => ('text' in p && typeof p.text === 'string' ? p.text : ''))
        .join('');

/**
 * Executes one run, idempotently: a re-delivered job (worker crash, duplicate) resumes from the
 * run's checkpoint and never writes a second reply. Ownership is re-checked from PostgreSQL
 * (session and agent loaded by the run's owner), never taken from the job payload. Every write of
 * an execution is fenced by the lease epoch it claimed.
 */
@Injectable()
export class RunExecutor {
  private readonly logger = new Logger(RunExecutor.name);
  private readonly throttled = new ThrottledLog(this.logger);
  private readonly memoryWarnings = new ThrottledLog(this.logger, MEMORY_WARNING_INTERVAL_MS);

  constructor(
    private readonly em: EntityManager,
    private readonly queries: QueryBus,
    private readonly commands: CommandBus,
    private readonly events: EventBus,
    private readonly slots: RunSlots,
    private readonly liveness: WorkerLiveness,
    private readonly queue: RunQueue,
    private readonly cancellation: RunCancellation,
    private readonly prompts: PromptBuilder,
    private readonly models: ChatModelFactory,
    private readonly caller: ModelCaller,
    private readonly memory: MemoryService,
    @InjectMetric(RUNS_FINISHED) private readonly finished: Counter<string>,
    @InjectMetric(RUN_DURATION) private readonly duration: Histogram<string>,
    @InjectMetric(RUN_QUEUE_WAIT) private readonly queueWait: Histogram<string>,
    @InjectMetric(RUN_SLOT_WAITS) private readonly slotWaits: Counter<string>,
    @InjectMetric(RUNS_ACTIVE) private readonly active: Gauge<string>,
    @InjectMetric(MEMORY_UNAVAILABLE) private readonly memoryUnavailable: Counter<string>,
    @InjectMetric(RUNS_FENCED) private readonly fenced: Counter<string>,
  ) {}

  /** Each job gets its own unit of work (a forked EntityManager). */
  execute(runId: string, waitsSoFar = 0): Promise<ExecutionOutcome> {
    return RequestContext.create(this.em, () => this.executeInContext(runId, waitsSoFar));
  }

  private async executeInContext(runId: string, waitsSoFar: number): Promise<ExecutionOutcome> {
    // Its job was re-delivered (the job lock lapsed) while this process still executes it.
    if (this.cancellation.isRunning(runId)) return { kind: 'wait', delayMs: MAX_WAIT_DELAY_MS };
    const run = await this.em.findOne(Run, { id: runId });
    if (!run || FINAL_RUN_STATUSES.includes(run.status)) return { kind: 'done' };

    const session = await this.em.findOne(ChatSession, {
      id: run.session.id,
      project: run.projectId,
      ownerId: run.ownerId,
    });
    if (!session)
      return this.fail(run, { code: 'SESSION_NOT_FOUND', message: 'The session no longer exists' });
    let agent: Agent;
    try {
      agent = await this.queries.execute(
        new GetOwnedAgentQuery(run.projectId, run.agentId, run.ownerId),
      );
    } catch (error) {
      if (error instanceof ResourceNotFoundError)
        return this.fail(run, { code: 'AGENT_NOT_FOUND', message: 'The agent was deleted' });
      throw error;
    }

    const slot: SlotRequest = {
      runId: run.id,
      sessionId: session.id,
      agentId: agent.id,
      agentLimit: agent.concurrencyLimit,
    };
    // Messages of a session are answered in order (by their seq): only the earliest unfinished run may start.
    const [head] = await this.em.getConnection().execute<{ id: string }[]>(
      `select r.id from runs r join messages m on m.id = r.input_message_id
       where r.session_id = ? and r.status in ('queued', 'running', 'awaiting_approval')
       order by m.seq limit 1`,
      [session.id],
    );
    if (head && head.id !== run.id) return this.waitFor('order', slot, waitsSoFar);
    const acquired = await this.slots.acquire(slot);
    if (acquired !== 'ok') return this.waitFor(acquired, slot, waitsSoFar);

    try {
      // Bookkeeping only: a failure here must not leave the slots held.
      await this.slots
        .removeWaiter(slot)
        .catch((error: Error) =>
          this.throttled.warn('waiters', `Could not update slot waiters: ${error.message}`),
        );
      return await this.runWithSlots(run, session, agent, slot);
    } finally {
      await this.slots.release(slot).catch(() => undefined);
      await this.wakeWaiters(slot);
    }
  }

  private async waitFor(
    reason: 'order' | 'session' | 'agent',
    slot: SlotRequest,
    waitsSoFar: number,
  ): Promise<ExecutionOutcome> {
    this.slotWaits.inc({ reason });
    await this.slots.addWaiter(
      reason === 'agent' ? 'agent' : 'session',
      reason === 'agent' ? slot.agentId : slot.sessionId,
      slot.runId,
    );
    // Woken early by whoever frees the slot (promote); this delay is only the fallback.
    const delayMs =
      Math.min(MAX_WAIT_DELAY_MS, 100 * 2 ** Math.min(waitsSoFar, 5)) *
      (0.75 + Math.random() * 0.5);
    return { kind: 'wait', delayMs };
  }

  private async wakeWaiters(slot: SlotRequest): Promise<void> {
    try {
      const waiting = await this.slots.waiters(slot, 4);
      await Promise.all(waiting.map((id) => this.queue.promote(id)));
    } catch (error) {
      this.throttled.warn('wake', `Could not wake waiting runs: ${(error as Error).message}`);
    }
  }

  private async runWithSlots(
    run: Run,
    session: ChatSession,
    agent: Agent,
    slot: SlotRequest,
  ): Promise<ExecutionOutcome> {
    const conn = this.em.getConnection();
    const [claimed] = await conn.execute<
      { executions: number; lease_epoch: number; cancel_requested_at: Date | null }[]
    >(
      `update runs set status = 'running', started_at = coalesce(started_at, now()), heartbeat_at = now(),
         executions = executions + 1, lease_epoch = lease_epoch + 1, worker_id = ?
       where id = ? and status in ('queued', 'running') returning executions, lease_epoch, cancel_requested_at`,
      [this.liveness.workerId, run.id],
    );
    if (!claimed) return { kind: 'done' };
    const lease: RunLease = { runId: run.id, epoch: claimed.lease_epoch };
    await this.em.refresh(run);
    if (claimed.executions === 1 && run.startedAt)
      this.queueWait.observe((run.startedAt.getTime() - run.createdAt.getTime()) / 1000);
    if (claimed.cancel_requested_at) return this.finishCancelled(run, agent, lease);

    await this.commands.execute(
      new SetAgentStatusCommand(agent.id, agent.ownerId, AgentStatus.Busy),
    );
    this.events.publish(
      new SessionEvent('run_started', session.id, run.id, agent.id, {
        run: toRunDto(run),
        execution: claimed.executions,
      }),
    );
    const controller = this.cancellation.register(run.id);
    // Renew leases well before they lapse: a third of the TTL.
    const heartbeat = setInterval(
      () => void this.beat(slot, lease, controller),
      Math.floor(this.slots.leaseTtlMs / 3),
    );
    heartbeat.unref();
    this.active.inc();
    try {
      const reply = await this.produceReply(run, session, agent, lease, controller.signal);
      await this.rememberOnce(run, agent, reply, lease);
      await this.complete(run, reply, lease);
      return { kind: 'done' };
    } catch (error) {
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : error;
      if (reason instanceof RunLeaseLostError || error instanceof RunLeaseLostError) {
        this.fenced.inc();
        this.logger.warn(`${(reason as Error).message}; stopping without writing`);
        // Either a newer execution owns the job (then this retry is refused as a stale token) or
        // nobody does (the lease merely lapsed), and the run resumes from its checkpoint.
        return { kind: 'wait', delayMs: MAX_WAIT_DELAY_MS };
      }
      if (reason instanceof RunCancelledSignal)
        return await this.finishCancelled(run, agent, lease);
      if (error instanceof LlmError) {
        await this.fail(run, { code: error.code, message: error.message }, lease);
        return { kind: 'dead_letter', reason: error.code };
      }
      throw error;
    } finally {
      clearInterval(heartbeat);
      this.cancellation.unregister(run.id);
      this.active.dec();
      await this.refreshAgentStatus(agent).catch(() => undefined);
    }
  }

  private async produceReply(
    run: Run,
    session: ChatSession,
    agent: Agent,
    lease: RunLease,
    signal: AbortSignal,
  ): Promise<Message> {
    // Resume: a reply persisted by an earlier execution of this run is the reply.
    const existing = await this.em.findOne(Message, { runId: run.id, role: MessageRole.Assistant });
    if (existing) return existing;

    const input = await this.em.findOneOrFail(Message, {
      id: run.inputMessageId,
      session: session.id,
    });
    const prompt = await this.prompts.build(agent, session.id, input);
    const warnings: RunWarning[] = [...(run.steps.warnings ?? [])];
    if (prompt.memoryUnavailable)
      warnings.push(this.memoryDegraded('recall', run, prompt.memoryUnavailable));
    const { model, target } = this.models.forAgent({
      model: agent.model,
      temperature: agent.temperature,
    });
    // Deltas are coalesced over a short window: one event (one XADD) per window, not per token.
    let pending = '';
    let first = true;
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      clearTimeout(timer);
      timer = undefined;
      if (!pending) return;
      this.events.publish(
        new SessionEvent('token', session.id, run.id, agent.id, { text: pending }),
      );
      pending = '';
    };
    let result: Awaited<ReturnType<ModelCaller['call']>>;
    try {
      result = await this.caller.call(model, prompt.messages, target, {
        signal,
        onToken: (text) => {
          pending += text;
          // The first delta goes out at once (time to first token); later ones are batched.
          if (first) {
            first = false;
            flush();
          } else {
            timer ??= setTimeout(flush, TOKEN_BATCH_MS);
          }
        },
      });
    } finally {
      flush();
    }
    const usage = result.message.usage_metadata;
    const reply = await this.persistReply(
      run,
      session,
      agent,
      lease,
      textOf(result.message),
      {
        model: agent.model,
        memory_hits: prompt.memoryHits,
        history_messages: prompt.historyMessages,
        model_attempts: result.attempts,
        ...(prompt.memoryUnavailable ? { memory: 'unavailable' } : {}),
      },
      {
        usage: usage
          ? { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens }
          : null,
        steps: { model_attempts: result.attempts, warnings },
      },
    );
    this.events.publish(
      new SessionEvent('message_completed', session.id, run.id, agent.id, {
        message: toMessageDto(reply),
      }),
    );
    return reply;
  }

  /**
   * Exactly once per run: the partial unique index refuses a second reply, and the seq bump rolls
   * back with it; an execution whose lease epoch is no longer current writes nothing at all.
   */
  private async persistReply(
    run: Run,
    session: ChatSession,
    agent: Agent,
    lease: RunLease,
    content: string,
    metadata: Record<string, unknown>,
    progress: { usage: Run['usage']; steps: Run['steps'] },
  ): Promise<Message> {
    try {
      const message = await this.em.transactional(async (tx) => {
        const conn = tx.getConnection();
        const ctx = tx.getTransactionContext();
        const message = tx.create(Message, {
          session: session.id,
          seq: 0,
          role: MessageRole.Assistant,
          content,
          agentId: agent.id,
          agentName: agent.name,
          runId: run.id,
          metadata,
        });
        const steps = { ...progress.steps, reply_message_id: message.id };
        const fenced = await conn.execute<{ id: string }[]>(
          `update runs set heartbeat_at = now(), usage = ?, steps = steps || ?::jsonb
           where id = ? and lease_epoch = ? and status = 'running' returning id`,
          [
            progress.usage ? JSON.stringify(progress.usage) : null,
            JSON.stringify(steps),
            lease.runId,
            lease.epoch,
          ],
          'all',
          ctx,
        );
        if (fenced.length === 0) throw new RunLeaseLostError(run.id);
        const [{ last_seq: seq }] = await conn.execute<{ last_seq: number }[]>(
          'update chat_sessions set last_seq = last_seq + 1, updated_at = now() where id = ? returning last_seq',
          [session.id],
          'all',
          ctx,
        );
        message.seq = seq;
        await tx.flush();
        return message;
      });
      await this.em.refresh(run);
      return message;
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      return this.em.findOneOrFail(Message, { runId: run.id, role: MessageRole.Assistant });
    }
  }

  /** Idempotent: the memory's id is the run's, so a retried run overwrites rather than adds. */
  private async rememberOnce(
    run: Run,
    agent: Agent,
    reply: Message,
    lease: RunLease,
  ): Promise<void> {
    if (run.steps.memory_stored) return;
    const input = await this.em.findOne(Message, { id: run.inputMessageId });
    const checkpoint: Run['steps'] = { memory_stored: true };
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
          userMessage: input?.content ?? '',
          assistantMessage: reply.content,
          metadata: { run_id: run.id, session_id: run.session.id },
        },
        run.id,
      );
    } catch (error) {
      // Memory is an aid, not the answer: the run still completes.
      if (!(error instanceof MemoryUnavailableError)) throw error;
      checkpoint.warnings = [
        ...(run.steps.warnings ?? []),
        this.memoryDegraded('remember', run, error),
      ];
    }
    const updated = await this.em
      .getConnection()
      .execute<{ id: string }[]>(
        `update runs set steps = steps || ?::jsonb where id = ? and lease_epoch = ? and status = 'running' returning id`,
        [JSON.stringify(checkpoint), lease.runId, lease.epoch],
      );
    if (updated.length === 0) throw new RunLeaseLostError(run.id);
    await this.em.refresh(run);
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

  private async complete(run: Run, reply: Message, lease: RunLease): Promise<void> {
    const updated = await this.em.nativeUpdate(
      Run,
      { id: run.id, status: RunStatus.Running, leaseEpoch: lease.epoch },
      { status: RunStatus.Completed, finishedAt: new Date(), outputMessageId: reply.id },
    );
    if (updated === 0) return;
    await this.em.refresh(run);
    this.observeFinished(run);
    this.events.publish(
      new SessionEvent('run_completed', run.session.id, run.id, run.agentId, {
        run: toRunDto(run),
      }),
    );
  }

  private async finishCancelled(
    run: Run,
    agent: Agent,
    lease: RunLease,
  ): Promise<ExecutionOutcome> {
    const updated = await this.em.nativeUpdate(
      Run,
      {
        id: run.id,
        status: { $in: [RunStatus.Queued, RunStatus.Running] },
        leaseEpoch: lease.epoch,
      },
      { status: RunStatus.Cancelled, finishedAt: new Date() },
    );
    if (updated > 0) {
      await this.em.refresh(run);
      this.observeFinished(run);
      this.events.publish(
        new SessionEvent('run_cancelled', run.session.id, run.id, agent.id, { run: toRunDto(run) }),
      );
    }
    return { kind: 'done' };
  }

  /**
   * Marks a run failed with a visible error (used for final failures of any cause). With a lease,
   * only while that execution still owns the run.
   */
  async fail(run: Run, error: RunError, lease?: RunLease): Promise<ExecutionOutcome> {
    const updated = await this.em.nativeUpdate(
      Run,
      {
        id: run.id,
        status: { $in: [RunStatus.Queued, RunStatus.Running] },
        ...(lease ? { leaseEpoch: lease.epoch } : {}),
      },
      { status: RunStatus.Failed, finishedAt: new Date(), error },
    );
    if (updated > 0) {
      await this.em.refresh(run);
      this.observeFinished(run);
      this.events.publish(
        new SessionEvent('run_failed', run.session.id, run.id, run.agentId, {
          run: toRunDto(run),
          error,
        }),
      );
    }
    return { kind: 'done' };
  }

  /** For dead letters: a job that exhausted its retries; throws when PostgreSQL is unreachable. */
  failById(runId: string, error: RunError): Promise<void> {
    return RequestContext.create(this.em, async () => {
      const run = await this.em.findOne(Run, { id: runId });
      if (run) await this.fail(run, error);
    });
  }

  private observeFinished(run: Run): void {
    this.finished.inc({ status: run.status });
    if (run.startedAt && run.finishedAt)
      this.duration.observe(
        { status: run.status },
        (run.finishedAt.getTime() - run.startedAt.getTime()) / 1000,
      );
  }

  private async beat(
    slot: SlotRequest,
    lease: RunLease,
    controller: AbortController,
  ): Promise<void> {
    try {
      if (!(await this.slots.renew(slot))) {
        controller.abort(new RunLeaseLostError(slot.runId));
        return;
      }
      const [row] = await this.em.getConnection().execute<{ cancel_requested_at: Date | null }[]>(
        `update runs set heartbeat_at = now() where id = ? and status = 'running' and lease_epoch = ?
           returning cancel_requested_at`,
        [lease.runId, lease.epoch],
      );
      if (!row) controller.abort(new RunLeaseLostError(slot.runId));
      else if (row.cancel_requested_at) controller.abort(new RunCancelledSignal());
    } catch (error) {
      this.throttled.warn('heartbeat', `Run heartbeat failed: ${(error as Error).message}`);
    }
  }

  private async refreshAgentStatus(agent: Agent): Promise<void> {
    const [{ n }] = await this.em
      .getConnection()
      .execute<{ n: number }[]>(
        `select count(*)::int as n from runs where agent_id = ? and status = 'running'`,
        [agent.id],
      );
    await this.commands.execute(
      new SetAgentStatusCommand(
        agent.id,
        agent.ownerId,
        n > 0 ? AgentStatus.Busy : AgentStatus.Ready,
      ),
    );
  }
}
