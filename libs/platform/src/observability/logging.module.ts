import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { type AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { type RequestWithId } from '../http/request-id.middleware';

/**
 * Structured JSON logs (pino). The request id set by requestIdMiddleware is reused as pino's
 * request id and bound to every line logged while handling the request.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        pinoHttp: {
          level: config.logLevel,
          base: { service: 'codelab', role: config.role },
          genReqId: (req) => (req as RequestWithId).id ?? 'unknown',
          customProps: (req) => ({ request_id: (req as RequestWithId).id }),
          redact: {
            paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
            censor: '[redacted]',
          },
          serializers: {
            // Query strings may carry short-lived credentials; log the path only.
            req: (req: { id: string; method: string; url: string }) => ({
              id: req.id,
              method: req.method,
              url: req.url.split('?')[0],
            }),
          },
          autoLogging: {
            ignore: (req) => ['/health', '/ready', '/metrics'].includes(req.url ?? ''),
          },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
