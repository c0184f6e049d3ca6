import type { EntityManager } from '@mikro-orm/postgresql';

/** What a feature records; the envelope (id, seq, time) is added by DomainEvents. */
export interface DomainEventInput<P extends object = Record<string, unknown>> {
  type: string;
  aggregateType: string;
  aggregateId: string;
  ownerId?: string | null;
  payload: P;
}

/** A recorded event as handlers receive it. */
export interface DomainEvent<P extends object = Record<string, unknown>> extends Required<
  DomainEventInput<P>
> {
  id: string;
  seq: string;
  createdAt: Date;
}

/**
 * A reaction to domain events, run in a worker, at least once per event; `handle` runs in a
 * transaction that also records that this handler applied the event, so its PostgreSQL effects
 * happen exactly once. Effects outside PostgreSQL must be idempotent themselves. Events are
 * published in seq order but handled by parallel workers: a handler must not rely on seeing one
 * event before another (re-read the current state instead).
 */
export interface DomainEventHandler {
  /** Stable name: the idempotency key together with the event id. */
  readonly name: string;
  readonly types: readonly string[];
  /** Narrower than `types` (e.g. only events of child runs); others are not even recorded. */
  accepts?(event: DomainEvent): boolean;
  /** May return what to do once its transaction has committed (enqueue, notify). */
  handle(event: DomainEvent, tx: EntityManager): Promise<void | AfterCommit>;
}

/** A `domain_events` row as node-postgres returns it. */
export interface DomainEventRow {
  id: string;
  seq: string;
  type: string;
  aggregate_type: string;
  aggregate_id: string;
  owner_id: string | null;
  payload: Record<string, unknown> | string;
  created_at: Date;
}

export function domainEventOf(row: DomainEventRow): DomainEvent {
  return {
    id: row.id,
    seq: String(row.seq),
    type: row.type,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    ownerId: row.owner_id,
    payload: typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload,
    createdAt: new Date(row.created_at),
  };
}

export type AfterCommit = () => Promise<void>;

export const DOMAIN_EVENTS_QUEUE = 'domain-events';
export const DOMAIN_EVENTS_CHANNEL = 'codelab_domain_events';
