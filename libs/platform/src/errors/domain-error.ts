/**
 * What kind of failure a domain error is. The HTTP edge maps each kind to a status; domain code
 * never imports HTTP.
 */
export type DomainErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'precondition_failed'
  | 'unprocessable'
  | 'rate_limited'
  | 'unavailable';

/** Base class of every error the product throws on purpose; `code` is stable for clients. */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  abstract readonly kind: DomainErrorKind;
  /** Extra machine-readable fields merged into the problem document. */
  readonly details?: Record<string, unknown>;
  /** For transient failures: the Retry-After the HTTP edge sends, in seconds. */
  readonly retryAfterSeconds?: number;

  constructor(message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }
}

/** A resource that does not exist or belongs to someone else: the two look the same. */
export class ResourceNotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  readonly kind = 'not_found' as const;
  constructor(resource: string) {
    super(`${resource} not found`, { resource });
  }
}
