import 'reflect-metadata';
import { existsSync } from 'node:fs';
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
import { createApiApp } from './bootstrap';

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
}

void main().catch((error: unknown) => {
  process.stderr.write(
    `Fatal start-up error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
