import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type RequestWithId = Request & { id?: string };

/**
 * Takes X-Request-Id from the caller when it is sane, otherwise generates one, and echoes it.
 * Runs before the body parser, so even a 413 or malformed-JSON answer carries the id.
 */
export function requestIdMiddleware(req: RequestWithId, res: Response, next: NextFunction): void {
  const header = req.headers['x-request-id'];
  const incoming = Array.isArray(header) ? header[0] : header;
  req.id = incoming && ACCEPTABLE_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', req.id);
  next();
}
