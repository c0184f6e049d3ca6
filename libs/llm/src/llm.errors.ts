import { DomainError, type DomainErrorKind } from '@codelab/platform';

export type LlmErrorKind =
  | 'timeout'
  | 'rate_limited'
  | 'server_error'
  | 'connection'
  | 'protocol'
  | 'bad_request'
  | 'auth'
  | 'circuit_open'
  | 'aborted';

/** Every failure of a model call surfaces as one of these, never as a raw SDK error. */
export class LlmError extends DomainError {
  readonly code: string;
  readonly kind: DomainErrorKind;

  constructor(
    readonly llmKind: LlmErrorKind,
    message: string,
    readonly retryable: boolean,
    readonly attempts: number,
    readonly status?: number,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, {
      llm_error: llmKind,
      attempts,
      ...(status ? { upstream_status: status } : {}),
    });
    this.code = `LLM_${llmKind.toUpperCase()}`;
    this.kind = llmKind === 'bad_request' ? 'unprocessable' : 'unavailable';
    if (options?.cause) (this as { cause?: unknown }).cause = options.cause;
  }

  withAttempts(attempts: number): LlmError {
    return new LlmError(
      this.llmKind,
      this.message,
      this.retryable,
      attempts,
      this.status,
      this.retryAfterMs,
      { cause: this.cause },
    );
  }
}

interface UpstreamErrorShape {
  status?: unknown;
  code?: unknown;
  name?: unknown;
  message?: unknown;
  headers?: unknown;
  error?: unknown;
  cause?: unknown;
}

const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function headerValue(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function')
    return (headers as Headers).get(name) ?? undefined;
  const value =
    (headers as Record<string, unknown>)[name] ??
    (headers as Record<string, unknown>)[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}

/** Retry-After in seconds or as an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Decides what a thrown upstream error means: 429, 5xx, timeouts and connection failures are
 * retryable; 400/401/403/404/422 are not (retrying cannot fix them).
 */
export function classifyLlmError(error: unknown, attempts: number): LlmError {
  if (error instanceof LlmError) return error;
  const e = (error ?? {}) as UpstreamErrorShape;
  const message = typeof e.message === 'string' ? e.message : String(error);
  const status = typeof e.status === 'number' ? e.status : undefined;
  const name = typeof e.name === 'string' ? e.name : '';
  const code =
    typeof e.code === 'string'
      ? e.code
      : typeof (e.cause as UpstreamErrorShape)?.code === 'string'
        ? ((e.cause as UpstreamErrorShape).code as string)
        : '';

  if (name === 'AbortError' || (/aborted/i.test(message) && !status)) {
    return new LlmError(
      'aborted',
      'The model call was cancelled',
      false,
      attempts,
      undefined,
      undefined,
      { cause: error },
    );
  }
  if (status === 429) {
    return new LlmError(
      'rate_limited',
      'The model provider is rate limiting requests',
      true,
      attempts,
      status,
      parseRetryAfter(headerValue(e.headers, 'retry-after')),
      { cause: error },
    );
  }
  if (status === 401 || status === 403)
    return new LlmError(
      'auth',
      `The model provider refused the credentials (${status})`,
      false,
      attempts,
      status,
      undefined,
      { cause: error },
    );
  if (status === 408)
    return new LlmError(
      'timeout',
      'The model provider timed out',
      true,
      attempts,
      status,
      undefined,
      { cause: error },
    );
  if (status !== undefined && status >= 500)
    return new LlmError(
      'server_error',
      `The model provider failed (${status})`,
      true,
      attempts,
      status,
      undefined,
      { cause: error },
    );
  if (status !== undefined && status >= 400)
    return new LlmError(
      'bad_request',
      `The model provider rejected the request (${status}): ${message.slice(0, 200)}`,
      false,
      attempts,
      status,
      undefined,
      { cause: error },
    );
  if (
    /timeout|timed out/i.test(name) ||
    /timeout|timed out/i.test(message) ||
    code === 'ETIMEDOUT'
  ) {
    return new LlmError(
      'timeout',
      'The model call timed out',
      true,
      attempts,
      undefined,
      undefined,
      { cause: error },
    );
  }
  if (
    RETRYABLE_CODES.has(code) ||
    /connection|socket|network|fetch failed/i.test(`${name} ${message}`)
  ) {
    return new LlmError(
      'connection',
      'Could not reach the model provider',
      true,
      attempts,
      undefined,
      undefined,
      { cause: error },
    );
  }
  if (error instanceof SyntaxError || /JSON|Unexpected token|parse/i.test(message)) {
    return new LlmError(
      'protocol',
      'The model provider sent a malformed response',
      true,
      attempts,
      undefined,
      undefined,
      { cause: error },
    );
  }
  return new LlmError(
    'protocol',
    `Unexpected model provider error: ${message.slice(0, 200)}`,
    false,
    attempts,
    undefined,
    undefined,
    { cause: error },
  );
}
