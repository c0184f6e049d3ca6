import { createHash } from 'node:crypto';
import { CommandHandler, EventBus, type ICommandHandler, QueryBus } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { type Agent, FindProjectAgentQuery } from '@codelab/agents';
import { toMessageDto, toRunDto } from '../../dto/mappers';
import { type SendMessageResponseDto } from '../../dto/session.dto';
import { ChatSession } from '../../entities/chat-session.entity';
import { Message, MessageRole } from '../../entities/message.entity';
import { OutboxEntry } from '../../entities/outbox-entry.entity';
import { Run, RunMode } from '../../entities/run.entity';
import { SessionEvent } from '../../events/session-events';
import { RunQueue } from '../../execution/run-queue';
import { MESSAGES_ACCEPTED } from '../../sessions.metrics';
import {
  IdempotencyKeyReusedError,
  NoAgentError,
  notFound,
  SessionArchivedError,
  UnknownTargetAgentError,
} from '../../sessions.errors';
import { SendMessageCommand } from './send-message.command';

/**
 * What happens when a message is sent: in ONE transaction the user message (next seq), a queued
 * run and an outbox row are written (plus the idempotency record); after commit the job is
 * enqueued and the outbox row removed. If Redis is down the 202 still goes out: the outbox row
 * stays and the relay enqueues the run later, so an accepted message is never lost.
 */
@CommandHandler(SendMessageCommand)
export class SendMessageHandler implements ICommandHandler<SendMessageCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly queries: QueryBus,
    private readonly events: EventBus,
    private readonly queue: RunQueue,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
    @InjectMetric(MESSAGES_ACCEPTED) private readonly accepted: Counter<string>,
  ) {}

  async execute(command: SendMessageCommand): Promise<SendMessageResponseDto> {
    const { projectId, sessionId, ownerId, content, targetAgent, idempotencyKey } = command;
    const requestHash = createHash('sha256')
      .update(JSON.stringify(['send-message', projectId, sessionId, content, targetAgent ?? null]))
      .digest('hex');

    const outcome = await this.em.transactional(async (tx) => {
      const conn = tx.getConnection();
      if (idempotencyKey) {
        // A concurrent request with the same key blocks on this insert until the first commits,
        // then finds its stored answer.
        const claimed = await conn.execute<{ key: string }[]>(
          `insert into idempotency_records (owner_id, key, request_hash, created_at) values (?, ?, ?, now())
           on conflict do nothing returning key`,
          [ownerId, idempotencyKey, requestHash],
          'all',
          tx.getTransactionContext(),
        );
        if (claimed.length === 0) {
          const [previous] = await conn.execute<
            { request_hash: string; response: string | null }[]
          >(
            'select request_hash, response from idempotency_records where owner_id = ? and key = ?',
            [ownerId, idempotencyKey],
            'all',
            tx.getTransactionContext(),
          );
          if (!previous || previous.request_hash !== requestHash || !previous.response)
            throw new IdempotencyKeyReusedError();
          return {
            replay: true as const,
            response: JSON.parse(previous.response) as SendMessageResponseDto,
          };
        }
      }

      const session = await tx.findOne(ChatSession, { id: sessionId, project: projectId, ownerId });
      if (!session) throw notFound(this.denials, 'session');
      if (session.archivedAt) throw new SessionArchivedError();
      const agent = await this.resolveAgent(
        projectId,
        ownerId,
        targetAgent,
        session.currentAgentId,
      );

      // Bumping the counter row serialises inserts per session and rolls back with the
      // transaction, so seqs are gap-free.
      const [{ last_seq: seq }] = await conn.execute<{ last_seq: number }[]>(
        'update chat_sessions set last_seq = last_seq + 1, updated_at = now() where id = ? returning last_seq',
        [session.id],
        'all',
        tx.getTransactionContext(),
      );
      const message = tx.create(Message, {
        session,
        seq,
        role: MessageRole.User,
        content,
        agentId: agent.id,
        agentName: agent.name,
      });
      const run = tx.create(Run, {
        session,
        projectId,
        ownerId,
        agentId: agent.id,
        agentName: agent.name,
        mode: RunMode.Direct,
        inputMessageId: message.id,
      });
      message.runId = run.id;
      tx.create(OutboxEntry, { runId: run.id });
      await tx.flush();

      const response: SendMessageResponseDto = {
        message: toMessageDto(message),
        run: toRunDto(run),
      };
      if (idempotencyKey) {
        await conn.execute(
          'update idempotency_records set response = ? where owner_id = ? and key = ?',
          [JSON.stringify(response), ownerId, idempotencyKey],
          'run',
          tx.getTransactionContext(),
        );
      }
      return { replay: false as const, response };
    });

    if (outcome.replay) return outcome.response;

    const { message, run } = outcome.response;
    this.accepted.inc();
    // Both facts are committed; announce them before a worker can announce run_started.
    this.events.publish(
      new SessionEvent('message_received', sessionId, run.id, run.agent_id, { message }),
    );
    this.events.publish(new SessionEvent('run_queued', sessionId, run.id, run.agent_id, { run }));
    if (await this.queue.enqueue(run.id)) {
      await this.em.nativeDelete(OutboxEntry, { runId: run.id });
    }
    return outcome.response;
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
