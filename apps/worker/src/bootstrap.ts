import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { type AppConfig, configureHttpApp } from '@codelab/platform';
import { hardenHttpServer } from '../../api/src/http-server-limits';
import { WorkerAppModule } from './worker-app.module';

/**
 * The worker's own small HTTP surface on WORKER_PORT: /health, /ready and /metrics for its
 * probes and scraper. It serves no API routes.
 */
export async function createWorkerApp(config: AppConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(WorkerAppModule.forRoot(config), {
    bodyParser: false,
    bufferLogs: true,
  });
  configureHttpApp(app, config, {
    title: 'CodeLab worker',
    description: 'Worker probes',
    docs: false,
  });
  hardenHttpServer(app, config);
  return app;
}
