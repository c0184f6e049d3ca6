import 'reflect-metadata';
import { existsSync } from 'node:fs';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import {
  type AppConfig,
  ConfigValidationError,
  installGracefulShutdown,
  loadConfig,
  migrateDatabase,
} from '@codelab/platform';
import { createOrmConfig } from '../../../mikro-orm.config';
import { createWorkerApp } from '../../worker/src/bootstrap';
import { createApiApp, startMetricsServer } from './bootstrap';

function readConfig(): AppConfig {
  // Optional: the defaults work without it.
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    return loadConfig(process.env, {
      onGeneratedSecret: (path) =>
        process.stderr.write(
          `WARNING: JWT_SECRET is not set; generated a development secret in ${path}. Set JWT_SECRET in production.\n`,
        ),
    });
  } catch (error) {
    if (error instanceof ConfigValidationError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/** One entry point for every role: APP_ROLE=all (default) | api | worker. */
async function main(): Promise<void> {
  const config = readConfig();
  if (config.dbMigrateOnStart) {
    const { applied } = await migrateDatabase(createOrmConfig(config));
    process.stderr.write(
      JSON.stringify({
        level: 'info',
        msg: `Migrations applied: ${applied.length ? applied.join(', ') : 'none pending'}`,
      }) + '\n',
    );
  }
  const worker = config.role === 'worker';
  const app = worker ? await createWorkerApp(config) : await createApiApp(config);
  const logger = app.get(Logger);
  installGracefulShutdown(app, config, logger);
  const port = worker ? config.workerPort : config.port;
  await app.listen(port);
  logger.log(
    `CodeLab ${config.role} listening on :${port}${worker ? '' : ' (Swagger UI at /docs)'}`,
    'Bootstrap',
  );
  // The worker serves /metrics on WORKER_PORT; the API on a port of its own, never the public one.
  if (!worker) await serveMetrics(app, config, logger);
}

async function serveMetrics(
  app: NestExpressApplication,
  config: AppConfig,
  logger: Logger,
): Promise<void> {
  try {
    const port = await startMetricsServer(app, config);
    logger.log(
      port === null
        ? 'Prometheus metrics are off (METRICS_PORT=0)'
        : `Prometheus metrics on :${port}/metrics`,
      'Bootstrap',
    );
  } catch (error) {
    // Metrics are not worth an outage: the API keeps serving, the scrape target shows down.
    logger.error(
      `Prometheus metrics NOT served: cannot listen on METRICS_PORT ${config.metricsPort} (${(error as Error).message})`,
      undefined,
      'Bootstrap',
    );
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(
    `Fatal start-up error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
