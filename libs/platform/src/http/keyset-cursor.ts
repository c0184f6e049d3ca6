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

export function encodeCreatedAtCursor(cursor: CreatedAtCursor): string {
  return Buffer.from(`${cursor.createdAt.toISOString()}|${cursor.id}`).toString('base64url');
}

export function decodeCreatedAtCursor(raw: string): CreatedAtCursor {
  const [iso, id, extra] = Buffer.from(raw, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso ?? '');
  if (extra !== undefined || !id || !UUID.test(id) || Number.isNaN(createdAt.getTime())) {
    throw new InvalidCursorError();
  }
  return { createdAt, id };
}
