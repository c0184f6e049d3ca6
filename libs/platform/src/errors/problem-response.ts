import { HttpException } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import { DatabaseUnavailableError, isDatabaseUnavailable } from '../database/database-unavailable';
import { DomainError, type DomainErrorKind } from './domain-error';
import type { Response } from 'express';
import { buildProblem, PROBLEM_CONTENT_TYPE } from './problem-details';

const STATUS_BY_KIND: Record<DomainErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
};

/** Errors raised by the body parser (express/body-parser) carry a `type` and a `status`. */
interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
}

export interface ProblemResponse {
  status: number;
  body: Record<string, unknown>;
  /** True when the error was not anticipated and must be logged with its stack. */
  unexpected: boolean;
  /** Response headers the status needs (Retry-After on 503). */
  headers?: Record<string, string>;
}

/** Maps any thrown value to a problem+json response. The single place that decides statuses. */
export function toProblemResponse(
  error: unknown,
  instance: string,
  requestId: string,
): ProblemResponse {
  const base = { instance, requestId };
  // Whatever layer it surfaced from, an unreachable PostgreSQL is a 503 the client may retry.
  if (!(error instanceof DomainError) && isDatabaseUnavailable(error))
    error = new DatabaseUnavailableError(error);
  if (error instanceof DomainError) {
    const status = STATUS_BY_KIND[error.kind];
    return {
      status,
      body: buildProblem({
        ...base,
        status,
        code: error.code,
        detail: error.message,
        extra: error.details,
      }),
      unexpected: false,
      headers: error.retryAfterSeconds
        ? { 'Retry-After': String(error.retryAfterSeconds) }
        : undefined,
    };
  }
  if (error instanceof ThrottlerException) {
    return {
      status: 429,
      body: buildProblem({
        ...base,
        status: 429,
        detail: 'Too many requests; retry after the Retry-After delay',
      }),
      unexpected: false,
    };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const message =
      typeof response === 'string'
        ? response
        : Array.isArray((response as { message?: unknown }).message)
          ? (response as { message: string[] }).message.join('; ')
          : String((response as { message?: unknown }).message ?? error.message);
    return {
      status,
      body: buildProblem({ ...base, status, detail: message }),
      unexpected: status >= 500,
    };
  }
  const parserError = error as BodyParserError | null;
  if (parserError && typeof parserError === 'object' && typeof parserError.type === 'string') {
    const status = parserError.status ?? parserError.statusCode ?? 400;
    switch (parserError.type) {
      case 'entity.parse.failed':
        return {
          status: 400,
          body: buildProblem({
            ...base,
            status: 400,
            code: 'MALFORMED_JSON',
            detail: 'Request body is not valid JSON',
          }),
          unexpected: false,
        };
      case 'entity.too.large':
        return {
          status: 413,
          body: buildProblem({
            ...base,
            status: 413,
            detail: 'Request body exceeds the size limit',
          }),
          unexpected: false,
        };
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return {
          status: 415,
          body: buildProblem({ ...base, status: 415, detail: 'Unsupported request body encoding' }),
          unexpected: false,
        };
      default:
        if (status >= 400 && status < 500) {
          return {
            status,
            body: buildProblem({ ...base, status, detail: 'Malformed request body' }),
            unexpected: false,
          };
        }
    }
  }
  return {
    status: 500,
    body: buildProblem({
      ...base,
      status: 500,
      detail: 'An unexpected error occurred; quote the request id when reporting it',
    }),
    unexpected: true,
  };
}

/** Writes a problem response (status, headers, problem+json body). */
export function sendProblem(res: Response, problem: ProblemResponse): void {
  for (const [name, value] of Object.entries(problem.headers ?? {})) res.setHeader(name, value);
  res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem.body));
}
