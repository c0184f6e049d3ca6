// What ioredis and BullMQ throw while Redis is unreachable, restarting or replaying its AOF.
const UNAVAILABLE_MESSAGES =
  /Connection is closed|max retries per request|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Command timed out|^LOADING |^READONLY |^MISCONF |^MASTERDOWN |^TRYAGAIN |Connection closed/i;
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
]);

/**
 * True when `error` says Redis could not serve the command right now (down, reconnecting, still
 * loading its data after a restart), as opposed to a bug in the command. Such failures are
 * transient: workers retry the run later without counting an attempt.
 */
export function isRedisUnavailable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, message, name } = error as { code?: unknown; message?: unknown; name?: unknown };
  if (name === 'MaxRetriesPerRequestError' || name === 'ConnectionClosedError') return true;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}
