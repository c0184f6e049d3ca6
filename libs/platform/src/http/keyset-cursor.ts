import { DomainError } from '../errors/domain-error';

export class InvalidCursorError extends DomainError {
  readonly code = 'INVALID_CURSOR';
  readonly kind = 'invalid' as const;
  constructor() {
    super('The cursor is malformed or does not belong to this list');
  }
}

/** Position of a row in a (created_at DESC, id DESC) ordering, opaque to clients. */
export interface CreatedAtCursor {
  createdAt: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Exactly what `Date.prototype.toISOString` writes for years 0000-9999. */
const ISO_INSTANT = /^(\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/**
 * Rows are stamped by the server clock, so a real cursor's instant lies in this range. Anything
 * else (year 0, -004713, +275760...) parses in JavaScript but is refused or misread by PostgreSQL:
 * it must be a 400, never reach a statement.
 */
const MIN_YEAR = 1970;
const MAX_YEAR = 9999;

export function encodeCreatedAtCursor(cursor: CreatedAtCursor): string {
  return Buffer.from(`${cursor.createdAt.toISOString()}|${cursor.id}`).toString('base64url');
}

/**
 * The position a cursor from `encodeCreatedAtCursor` names. Only what the encoder can produce is
 * accepted: a canonical ISO instant (it must round-trip, so 2024-02-30 is refused rather than
 * rolled over) between 1970 and 9999, and a UUID; anything else is InvalidCursorError (400).
 */
export function decodeCreatedAtCursor(raw: string): CreatedAtCursor {
  const [iso = '', id, extra] = Buffer.from(raw, 'base64url').toString('utf8').split('|');
  const year = ISO_INSTANT.exec(iso)?.[1];
  const createdAt = new Date(iso);
  if (
    extra !== undefined ||
    !id ||
    !UUID.test(id) ||
    year === undefined ||
    Number(year) < MIN_YEAR ||
    Number(year) > MAX_YEAR ||
    Number.isNaN(createdAt.getTime()) ||
    createdAt.toISOString() !== iso
  ) {
    throw new InvalidCursorError();
  }
  return { createdAt, id };
}
