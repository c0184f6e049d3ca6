import { type INestApplication, ValidationPipe } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { NextFunction, Request, Response } from 'express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import type { Histogram } from 'prom-client';
import { type AppConfig } from '../config/app-config';
import { ProblemDto } from '../errors/problem-details';
import { sendProblem, toProblemResponse } from '../errors/problem-response';
import { RequestValidationError } from '../errors/request-validation.error';
import { unstorableAt } from '../database/storable-text';
import { HTTP_REQUEST_DURATION } from '../observability/metrics/metric-names';
import { httpMetricsMiddleware } from '../observability/metrics/http-metrics.middleware';
import { type RequestWithId, requestIdMiddleware } from './request-id.middleware';

export interface HttpAppOptions {
  title: string;
  description: string;
  /** Whether to serve Swagger UI at /docs and the OpenAPI document at /docs-json. */
  docs: boolean;
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
  app.use(requestIdMiddleware);
  app.use(httpMetricsMiddleware(app.get<Histogram<string>>(getToken(HTTP_REQUEST_DURATION))));
  app.useBodyParser('json', {
    limit: config.http.bodyLimitBytes,
    type: ['application/json', 'application/*+json'],
  });
  // Body-parser errors happen before Nest's router, so its exception filters never see them.
  app.use((error: unknown, req: RequestWithId, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    sendProblem(res, toProblemResponse(error, req.originalUrl.split('?')[0], req.id ?? ''));
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
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(options.title)
      .setDescription(options.description)
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'bearer')
      .build(),
    { extraModels: [ProblemDto] },
  );
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
  });
}

export type { Request };
