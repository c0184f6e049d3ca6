import { type INestApplication, Logger as NestLogger, ValidationPipe } from '@nestjs/common';
import {
  DocumentBuilder,
  type OpenAPIObject,
  type OperationObject,
  type ParameterObject,
  SwaggerModule,
} from '@nestjs/swagger';
import { PUBLIC_EXTENSION } from './public.decorator';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { Server } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import type { Histogram } from 'prom-client';
import { type AppConfig } from '../config/app-config';
import { DomainError } from '../errors/domain-error';
import { PROBLEM_CONTENT_TYPE, ProblemDto } from '../errors/problem-details';
import { sendProblem, toProblemResponse } from '../errors/problem-response';
import { RequestValidationError } from '../errors/request-validation.error';
import { unstorableAt } from '../database/storable-text';
import { HTTP_REQUEST_DURATION } from '../observability/metrics/metric-names';
import { httpMetricsMiddleware } from '../observability/metrics/http-metrics.middleware';
import { answerLivenessFirst } from './liveness-first';
import { type RequestWithId, requestIdMiddleware } from './request-id.middleware';

export interface HttpAppOptions {
  title: string;
  description: string;
  /** Whether to serve Swagger UI at /docs and the OpenAPI document at /docs-json. */
  docs: boolean;
}

/**
 * How deep JSON bodies may nest (arrays and objects). Far beyond any real payload of the API, and
 * low enough that nothing downstream (JSON.parse, validation, the unstorable-text walk, jsonb)
 * recurses dangerously: 10,000 levels overflowed the stack (a 500), 400,000 blocked the loop.
 */
export const JSON_MAX_DEPTH = 64;

export class JsonTooDeepError extends DomainError {
  readonly code = 'JSON_TOO_DEEP';
  readonly kind = 'invalid' as const;
  constructor(maxDepth: number) {
    super(`Request body JSON nests deeper than ${maxDepth} levels`, { max_depth: maxDepth });
  }
}

/** A body whose bytes are not what its Content-Encoding says (not gzip, truncated...). */
export class UndecodableBodyError extends DomainError {
  readonly code = 'MALFORMED_BODY_ENCODING';
  readonly kind = 'invalid' as const;
  constructor(contentEncoding: string | undefined) {
    super(
      contentEncoding
        ? `Request body could not be decoded as its Content-Encoding (${contentEncoding.slice(0, 32)}) says`
        : 'Request body could not be read',
    );
  }
}

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether UTF-8 JSON text nests arrays/objects deeper than `maxDepth`, by one linear scan of the
 * bytes that stops at the first level too deep; brackets inside strings (escapes included) do not
 * count. Multi-byte UTF-8 sequences only use bytes >= 0x80, so they never look like ASCII syntax.
 * Malformed text is left to JSON.parse.
 */
export function jsonNestsDeeperThan(utf8: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < utf8.length; i++) {
    const c = utf8[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

/**
 * body-parser's `verify` hook: it runs on the raw (decompressed) body before JSON.parse. A throw
 * with a `status` and a `type` becomes that error, which the parser-error middleware answers.
 * The JSON parser admits any `utf-*` charset; those other than UTF-8 are scanned re-encoded.
 */
function verifyJsonDepth(_req: unknown, _res: unknown, body: Buffer, encoding: string): void {
  const charset = (encoding || 'utf-8').toLowerCase();
  let utf8: Uint8Array = body;
  if (charset !== 'utf-8' && charset !== 'utf8') {
    try {
      utf8 = Buffer.from(new TextDecoder(charset).decode(body), 'utf8');
    } catch {
      throw Object.assign(new Error(`unsupported charset "${charset}"`), {
        status: 415,
        type: 'charset.unsupported',
      });
    }
  }
  if (jsonNestsDeeperThan(utf8, JSON_MAX_DEPTH)) {
    throw Object.assign(new Error(`JSON nests deeper than ${JSON_MAX_DEPTH} levels`), {
      status: 400,
      type: 'entity.too.deep',
    });
  }
}

/**
 * The body parser's own errors, made into domain errors where problem-response would not know
 * them: too deep, and decompression failures (zlib/brotli errors: status 400, no `type`).
 */
function fromBodyParserError(error: unknown, req: Request): unknown {
  if (!error || typeof error !== 'object' || error instanceof DomainError) return error;
  const { type, status, statusCode } = error as {
    type?: unknown;
    status?: unknown;
    statusCode?: unknown;
  };
  if (type === 'entity.too.deep') return new JsonTooDeepError(JSON_MAX_DEPTH);
  const httpStatus = typeof status === 'number' ? status : statusCode;
  if (
    typeof type !== 'string' &&
    typeof httpStatus === 'number' &&
    httpStatus >= 400 &&
    httpStatus < 500
  )
    return new UndecodableBodyError(req.headers['content-encoding']);
  return error;
}

/**
 * Everything an HTTP app of CodeLab shares: request ids, metrics, the JSON body parser with its
 * limit, problem+json for parser errors, validation, and the OpenAPI document. Create the app with
 * `{ bodyParser: false, bufferLogs: true }` so this function owns parsing and logging.
 */
export function configureHttpApp(
  app: NestExpressApplication,
  config: AppConfig,
  options: HttpAppOptions,
): void {
  app.useLogger(app.get(Logger));
  app.flushLogs();
  const express = app.getHttpAdapter().getInstance();
  express.disable('x-powered-by');
  express.set('trust proxy', config.http.trustProxy);

  if (config.http.corsOrigins.length > 0) {
    // Browsers on these origins may call the API (bearer tokens, no cookies).
    app.enableCors({
      origin: config.http.corsOrigins,
      credentials: false,
      exposedHeaders: ['X-Request-Id', 'Retry-After'],
      maxAge: 600,
    });
  }
  const durations = app.get<Histogram<string>>(getToken(HTTP_REQUEST_DURATION));
  answerLivenessFirst(app.getHttpServer() as Server, durations);
  app.use(requestIdMiddleware);
  app.use(httpMetricsMiddleware(durations));
  // `verify` bounds nesting before JSON.parse ever sees the body. Nest's option type omits it
  // (Nest installs its own when the app is created with `rawBody`, which CodeLab never does), but
  // hands the options to body-parser as they are; test/hostile-input.e2e.spec.ts proves it runs.
  const jsonOptions = {
    limit: config.http.bodyLimitBytes,
    type: ['application/json', 'application/*+json'],
    verify: verifyJsonDepth,
  };
  app.useBodyParser('json', jsonOptions);
  // Body-parser errors happen before Nest's router, so its exception filters never see them.
  const parserLogger = new NestLogger('HttpBodyParser');
  app.use((error: unknown, req: RequestWithId, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const problem = toProblemResponse(
      fromBodyParserError(error, req),
      req.originalUrl.split('?')[0],
      req.id ?? '',
    );
    if (problem.unexpected)
      parserLogger.error({ err: error, request_id: req.id }, 'Unhandled error');
    sendProblem(res, problem);
  });
  // Text PostgreSQL cannot store (NUL, lone surrogates) is bad input: a 400 naming the field,
  // before it can reach a statement (where it would be a 5xx). Raw file bodies are bytes: exempt.
  app.use((req: RequestWithId, res: Response, next: NextFunction) => {
    const at =
      (Buffer.isBuffer(req.body) ? null : unstorableAt(req.body, 'body')) ??
      unstorableAt(req.query, 'query');
    if (!at) return next();
    sendProblem(
      res,
      toProblemResponse(
        new RequestValidationError([
          { field: at, messages: ['must not contain NUL characters or unpaired surrogates'] },
        ]),
        req.originalUrl.split('?')[0],
        req.id ?? '',
      ),
    );
  });

  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
      exceptionFactory: (errors) => RequestValidationError.fromClassValidator(errors),
    }),
  );

  if (options.docs) setUpSwagger(app, options);
}

function setUpSwagger(app: INestApplication, options: HttpAppOptions): void {
  const document = completeDocument(
    SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle(options.title)
        .setDescription(options.description)
        .setVersion('1')
        .addServer('/', 'This server')
        .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'bearer')
        .addApiKey(
          {
            type: 'apiKey',
            in: 'query',
            name: 'stream_token',
            description:
              'A token from POST .../stream-token; only the session events route takes it',
          },
          'stream_token',
        )
        .build(),
      { extraModels: [ProblemDto] },
    ),
  );
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
  });
}

/**
 * What the decorators cannot say: every `{param}` of a path is declared (ids are UUIDs), every
 * operation states its security (the global JWT guard protects all but @Public() routes, which
 * get `security: []`), and the license.
 */
export function completeDocument(document: OpenAPIObject): OpenAPIObject {
  // package.json says UNLICENSED: proprietary, no licence granted (npm's meaning of the word).
  document.info.license ??= {
    name: 'UNLICENSED',
    url: 'https://docs.npmjs.com/cli/v11/configuring-npm/package-json#license',
  };
  // RFC 9457 §3.2: a problem may carry extension members (`resource`, `run_status`, ...).
  const problemSchema = document.components?.schemas?.[ProblemDto.name] as
    { additionalProperties?: boolean; description?: string } | undefined;
  if (problemSchema) {
    problemSchema.additionalProperties = true;
    problemSchema.description ??=
      'RFC 9457 problem details; `code` is stable, extension members name what was involved';
  }
  for (const [path, item] of Object.entries(document.paths)) {
    const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = item[method] as
        (OperationObject & { [PUBLIC_EXTENSION]?: boolean }) | undefined;
      if (!operation) continue;
      const parameters = (operation.parameters ?? []) as ParameterObject[];
      for (const name of names) {
        const declared = parameters.find((p) => p.in === 'path' && p.name === name);
        // Every `...Id` path parameter is read with UuidParam: a UUID or a 400.
        const schema = /Id$/.test(name) ? { type: 'string', format: 'uuid' } : { type: 'string' };
        if (!declared) parameters.push({ name, in: 'path', required: true, schema });
        else declared.schema = { ...declared.schema, ...schema };
      }
      // A header read with @Headers() and documented with @ApiHeader() appears twice (the first
      // required, in lower case): the documented one stays.
      const documented = new Set(
        parameters
          .filter((p) => p.in === 'header' && p.description)
          .map((p) => p.name.toLowerCase()),
      );
      operation.parameters = parameters.filter(
        (p) => p.in !== 'header' || p.description || !documented.has(p.name.toLowerCase()),
      );
      // What any operation can answer: an unexpected error, a dependency outage; and, wherever
      // there is a body, one over the limit or in an encoding the route does not take.
      const responses = operation.responses;
      responses['500'] ??= problemResponse('Unexpected error (logged with the request id)');
      responses['503'] ??= problemResponse(
        'PostgreSQL or Redis is unavailable, or the server is draining; retry after Retry-After',
      );
      if (operation.requestBody) {
        responses['413'] ??= problemResponse('Body over the size limit');
        responses['415'] ??= problemResponse(
          'A Content-Type, charset or Content-Encoding the route does not take',
        );
      }
      if (operation[PUBLIC_EXTENSION]) {
        operation.security = [];
        delete operation[PUBLIC_EXTENSION];
      } else operation.security ??= [{ bearer: [] }];
    }
  }
  return document;
}

function problemResponse(description: string) {
  return {
    description,
    content: {
      [PROBLEM_CONTENT_TYPE]: { schema: { $ref: `#/components/schemas/${ProblemDto.name}` } },
    },
  };
}

export type { Request };
