import { Injectable } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  DOMAIN_EVENTS_CHANNEL,
  type DomainEventHandler,
  type DomainEventInput,
} from './domain-event';

/**
 * Records domain events in the caller's transaction (the outbox), and knows who handles them.
 * Recording also sends a NOTIFY, which PostgreSQL delivers only on commit: the relay wakes at once
 * for committed events and never sees uncommitted ones.
 */
@Injectable()
export class DomainEvents {
  private readonly handlers: DomainEventHandler[] = [];

  async record(tx: EntityManager, ...events: DomainEventInput[]): Promise<void> {
    if (events.length === 0) return;
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    const values = events.map(() => '(gen_random_uuid(), ?, ?, ?, ?, ?::jsonb)').join(', ');
    await conn.execute(
      `insert into domain_events (id, type, aggregate_type, aggregate_id, owner_id, payload) values ${values}`,
      events.flatMap((e) => [
        e.type,
        e.aggregateType,
        e.aggregateId,
        e.ownerId ?? null,
        JSON.stringify(e.payload),
      ]),
      'run',
      ctx,
    );
    await conn.execute(`select pg_notify(?, '')`, [DOMAIN_EVENTS_CHANNEL], 'all', ctx);
  }

  /** Features register their handlers at module init (worker and API alike; only workers run them). */
  register(handler: DomainEventHandler): void {
    if (this.handlers.some((h) => h.name === handler.name))
      throw new Error(`Two domain event handlers are named "${handler.name}"`);
    this.handlers.push(handler);
  }

  handlersFor(type: string): DomainEventHandler[] {
    return this.handlers.filter((h) => h.types.includes(type));
  }
}
