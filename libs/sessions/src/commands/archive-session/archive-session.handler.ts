import { CommandBus, CommandHandler, type ICommandHandler, QueryBus } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { CancelRunCommand, ListRunsQuery, PARKED_RUN_STATUSES } from '@codelab/runs';
import { ChatSession } from '../../entities/chat-session.entity';
import { notFound } from '../../sessions.errors';
import { ArchiveSessionCommand } from './archive-session.command';

@CommandHandler(ArchiveSessionCommand)
export class ArchiveSessionHandler implements ICommandHandler<ArchiveSessionCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ projectId, sessionId, ownerId }: ArchiveSessionCommand): Promise<void> {
    const session = await this.em.findOne(ChatSession, {
      id: sessionId,
      project: projectId,
      ownerId,
    });
    if (!session) throw notFound(this.denials, 'session');
    // Idempotent: archiving twice keeps the first time.
    session.archivedAt ??= new Date();
    await this.em.flush();
    // Runs parked for a decision (an approval, child runs) would wait for a conversation nobody
    // continues: they are cancelled, and their pending approvals with them.
    let cursor: string | undefined;
    do {
      const page = await this.queries.execute(new ListRunsQuery(sessionId, ownerId, 100, cursor));
      for (const run of page.items)
        if (PARKED_RUN_STATUSES.includes(run.status))
          await this.commands.execute(
            new CancelRunCommand(sessionId, run.id, ownerId, 'session_archived'),
          );
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }
}
