import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ThrottledLog } from '../observability/throttled-log';
import { sendProblem, toProblemResponse } from './problem-response';

/** Turns every error escaping a handler into application/problem+json (RFC 9457). */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemDetailsFilter');
  private readonly outages = new ThrottledLog(this.logger);

  catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw error;
    const http = host.switchToHttp();
    const req = http.getRequest<Request & { id?: string }>();
    const res = http.getResponse<Response>();
    const problem = toProblemResponse(
      error,
      req.originalUrl?.split('?')[0] ?? req.url,
      String(req.id ?? ''),
    );
    if (problem.unexpected) {
      this.logger.error({ err: error, request_id: req.id }, 'Unhandled error');
    }
    if (res.headersSent) {
      // A stream already started: the only thing left to do is end it.
      res.end();
      return;
    }
    if (problem.status === 503 && problem.headers) {
      this.outages.warn(
        String(problem.body.code),
        `Answering 503 ${String(problem.body.code)}: ${(error as Error).message}`,
      );
    }
    sendProblem(res, problem);
  }
}
