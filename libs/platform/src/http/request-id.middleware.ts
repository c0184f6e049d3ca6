import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type RequestWithId = Request & { id?: string };

/**
 * Takes X-Request-Id from the caller when it is sane, otherwise generates one, and echoes it.
 * Runs before the body parser, so even a 413 or malformed-JSON answer carries the id.
 */
export function requestIdMiddleware(req: RequestWithId, res: Response, next: NextFunction): void {
  req.id = requestIdOf(req);
  res.setHeader('X-Request-Id', req.id);
  next();
}

/** The caller's X-Request-Id when it is sane, otherwise a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  const incoming = Array.isArray(header) ? header[0] : header;
  return incoming && ACCEPTABLE_ID.test(incoming) ? incoming : randomUUID();
}
