import { createHash, randomUUID } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { CommandHandler, EventBus, type ICommandHandler, QueryBus } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { APP_CONFIG, type AppConfig, ISOLATION_DENIALS } from '@codelab/platform';
import { type Agent, FindProjectAgentQuery } from '@codelab/agents';
import {
  type Dispatch,
  Run,
  RunCancellation,
  RunKind,
  RunMode,
  RunLanes,
  RunLifecycle,
  toRunDto,
  type Transitioned,
} from '@codelab/runs';
import { SessionEvent } from '@codelab/streaming';
import { type SendMessageResponseDto } from '../../dto/session.dto';
import { MessageRole } from '../../entities/message.entity';
import { MessageLog, messageDtoOf } from '../../messages/message-log';
import { MESSAGES_ACCEPTED } from '../../sessions.metrics';
import {
  IdempotencyKeyReusedError,
  NoAgentError,
  notFound,
  RunInProgressError,
  SessionArchivedError,
  UnknownTargetAgentError,
} from '../../sessions.errors';
import { SendMessageCommand } from './send-message.command';

export const sessionLane = (sessionId: string) => `session:${sessionId}`;

interface SessionRow {
  id: string;
  current_agent_id: string | null;
  mode: 'direct' | 'orchestrated';
  archived_at: Date | null;
}

/** Who answers: an agent, or (orchestrated sessions) the project's orchestrator. */
interface Answerer {
  id: string;
  name: string;
  kind?: RunKind;
  mode?: RunMode;
}

/** The orchestrator's name; its run's agent id is the project's id (it is not a user agent). */
const ORCHESTRATOR = 'Orchestrator';

interface Accepted {
  response: SendMessageResponseDto;
  dispatched: Dispatch[];
  transitions: Transitioned[];
  interrupting: string[];
}

/**
 * What happens when a message is sent: in ONE transaction the user message (next seq), a queued
 * run in the session's lane (dispatched at once when it is the lane's head, else when its turn
 * comes) and the idempotency record are written, and with on_busy=interrupt the lane's active
 * runs are cancelled; after commit the job is enqueued. If Redis is down the 202 still goes out:
 * the outbox row stays and the relay enqueues the run later, so an accepted message is never lost.
 */
@CommandHandler(SendMessageCommand)
export class SendMessageHandler implements ICommandHandler<SendMessageCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly queries: QueryBus,
    private readonly events: EventBus,
    private readonly messages: MessageLog,
    private readonly lanes: RunLanes,
    private readonly lifecycle: RunLifecycle,
    private readonly cancellation: RunCancellation,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
    @InjectMetric(MESSAGES_ACCEPTED) private readonly accepted: Counter<string>,
  ) {}

  async execute(command: SendMessageCommand): Promise<SendMessageResponseDto> {
    const { projectId, sessionId, ownerId, content, targetAgent, idempotencyKey } = command;
    const onBusy = command.onBusy ?? 'enqueue';
    const requestHash = createHash('sha256')
      .update(
        JSON.stringify([
          'send-message',
          projectId,
          sessionId,
          content,
          targetAgent ?? null,
          onBusy,
        ]),
      )
      .digest('hex');

    const outcome = await this.em.fork().transactional(async (tx) => {
      const conn = tx.getConnection();
      const ctx = tx.getTransactionContext();
      if (idempotencyKey) {
        // A concurrent request with the same key blocks on this insert until the first commits,
        // then finds its stored answer. Expired records count as absent.
        await conn.execute(
          `delete from idempotency_records where owner_id = ? and key = ? and expires_at < now()`,
          [ownerId, idempotencyKey],
          'run',
          ctx,
        );
        const claimed = await conn.execute<{ key: string }[]>(
          `insert into idempotency_records (owner_id, key, request_hash, created_at, expires_at)
           values (?, ?, ?, now(), now() + make_interval(hours => ?))
           on conflict do nothing returning key`,
          [ownerId, idempotencyKey, requestHash, this.config.idempotencyTtlHours],
          'all',
          ctx,
        );
        if (claimed.length === 0) {
          const [previous] = await conn.execute<
            { request_hash: string; response: string | null }[]
          >(
            'select request_hash, response from idempotency_records where owner_id = ? and key = ?',
            [ownerId, idempotencyKey],
            'all',
            ctx,
          );
          if (!previous || previous.request_hash !== requestHash || !previous.response)
            throw new IdempotencyKeyReusedError();
          return {
            replay: true as const,
            response: JSON.parse(previous.response) as SendMessageResponseDto,
          };
        }
      }

      const [session] = await conn.execute<SessionRow[]>(
        `select id, current_agent_id, mode, archived_at from chat_sessions
          where id = ? and project_id = ? and owner_id = ?`,
        [sessionId, projectId, ownerId],
        'all',
        ctx,
      );
      if (!session) throw notFound(this.denials, 'session');
      if (session.archived_at) throw new SessionArchivedError();
      const agent: Answerer =
        targetAgent === undefined && session.mode === 'orchestrated'
          ? {
              id: projectId,
              name: ORCHESTRATOR,
              kind: RunKind.Orchestration,
              mode: RunMode.Orchestrated,
            }
          : await this.resolveAgent(projectId, ownerId, targetAgent, session.current_agent_id);

      // Lock order on every path: lane, then runs, then the session's seq counter.
      const lane = sessionLane(session.id);
      await this.lanes.lock(tx, lane);
      const active = await this.lanes.active(tx, lane);
      if (onBusy === 'reject' && active.length > 0)
        throw new RunInProgressError(active[0].id, active[0].status);

      const transitions: Transitioned[] = [];
      const interrupting: string[] = [];
      if (onBusy === 'interrupt') {
        // Newest first, so cancelling never hands the lane to a run about to be cancelled too.
        for (const other of [...active].reverse()) {
          const decision = await this.lifecycle.requestCancel(tx, other.id, 'interrupted');
          if (decision && 'cancelled' in decision) transitions.push(decision.cancelled);
          else if (decision) interrupting.push(decision.signal);
        }
      }

      const runId = randomUUID();
      const input = await this.messages.append(tx, {
        sessionId: session.id,
        role: MessageRole.User,
        content,
        agentId: agent.kind === RunKind.Orchestration ? null : agent.id,
        agentName: agent.name,
        runId,
      });
      const submitted = await this.lanes.submit(
        tx,
        {
          id: runId,
          sessionId: session.id,
          projectId,
          ownerId,
          agentId: agent.id,
          agentName: agent.name,
          lane,
          laneSeq: input.seq,
          inputMessageId: input.id,
          kind: agent.kind,
          mode: agent.mode,
        },
        active.length === 0,
      );
      const run = tx.map(Run, submitted.run);
      const dispatched = transitions.flatMap((t) => t.dispatched);
      if (submitted.dispatched) dispatched.push(submitted.dispatched);

      const response: SendMessageResponseDto = {
        message: messageDtoOf(input),
        run: toRunDto(run),
      };
      if (idempotencyKey) {
        await conn.execute(
          'update idempotency_records set response = ? where owner_id = ? and key = ?',
          [JSON.stringify(response), ownerId, idempotencyKey],
          'run',
          ctx,
        );
      }
      return {
        replay: false as const,
        accepted: { response, dispatched, transitions, interrupting },
      };
    });

    if (outcome.replay) return outcome.response;
    return this.afterCommit(sessionId, onBusy, outcome.accepted);
  }

  private async afterCommit(
    sessionId: string,
    onBusy: string,
    { response, dispatched, transitions, interrupting }: Accepted,
  ): Promise<SendMessageResponseDto> {
    const { message, run } = response;
    this.accepted.inc({ on_busy: onBusy });
    for (const t of transitions) this.lifecycle.announce(t.run);
    for (const runId of interrupting) await this.cancellation.requestCancel(runId);
    // Both facts are committed; announce them before a worker can announce run_started.
    this.events.publish(
      new SessionEvent('message_received', sessionId, run.id, run.agent_id, { message }),
    );
    this.events.publish(new SessionEvent('run_queued', sessionId, run.id, run.agent_id, { run }));
    for (const d of dispatched) await this.lifecycle.enqueue(d);
    return response;
  }

  private async resolveAgent(
    projectId: string,
    ownerId: string,
    target: string | undefined,
    currentAgentId: string | null,
  ): Promise<Agent> {
    if (target !== undefined) {
      const agent = await this.queries.execute(
        new FindProjectAgentQuery(projectId, ownerId, target),
      );
      if (!agent) throw new UnknownTargetAgentError(target);
      return agent;
    }
    const current = currentAgentId
      ? await this.queries.execute(new FindProjectAgentQuery(projectId, ownerId, currentAgentId))
      : null;
    const agent =
      current ?? (await this.queries.execute(new FindProjectAgentQuery(projectId, ownerId)));
    if (!agent) throw new NoAgentError();
    return agent;
  }
}
