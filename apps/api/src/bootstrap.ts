import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { type AppConfig, configureHttpApp } from '@codelab/platform';
import { ApiModule } from './api.module';

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
  return app;
}
