import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { type AppConfig, configureHttpApp, MetricsServer } from '@codelab/platform';
import { ApiModule } from './api.module';
import { applyHttpServerLimits, hardenHttpServer } from './http-server-limits';

export async function createApiApp(config: AppConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), {
    bodyParser: false,
    bufferLogs: true,
  });
  configureHttpApp(app, config, {
    title: 'CodeLab API',
    description:
      'Personal multi-agent AI platform. Errors are application/problem+json (RFC 9457) with a stable `code`.',
    docs: true,
  });
  hardenHttpServer(app, config);
  return app;
}

/**
 * Serves the API process's `/metrics` on METRICS_PORT (all interfaces), with the same server
 * limits as the API. Resolves with the port, or null when METRICS_PORT=0 turns it off; rejects
 * when the port cannot be bound. It closes with the app.
 */
export async function startMetricsServer(
  app: NestExpressApplication,
  config: AppConfig,
): Promise<number | null> {
  if (config.metricsPort === 0) return null;
  const metrics = app.get(MetricsServer);
  applyHttpServerLimits(metrics.server, config.http);
  return metrics.listen(config.metricsPort);
}
