/** `npm run migration:up`: applies pending migrations (the Kubernetes migration Job runs this). */
import 'reflect-metadata';
import { loadConfig, migrateDatabase } from '@codelab/platform';
import { createOrmConfig } from '../mikro-orm.config';

void migrateDatabase(createOrmConfig(loadConfig()))
  .then(({ applied }) =>
    process.stdout.write(`Applied: ${applied.length ? applied.join(', ') : 'nothing pending'}\n`),
  )
  .catch((error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
