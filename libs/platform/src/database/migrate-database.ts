import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Client } from 'pg';

export interface MigrationOutcome {
  applied: string[];
}

// Any fixed 64-bit key; every CodeLab process that migrates takes this one.
const MIGRATION_LOCK_KEY = 7_324_001;

/**
 * Creates the database when missing and applies pending migrations, on a short-lived ORM of its
 * own so the app's pool never runs DDL. A PostgreSQL advisory lock serialises concurrent callers
 * (API and worker starting together, several replicas): the second waits, then finds nothing to do.
 * Used by `npm start` (DB_MIGRATE_ON_START), `npm run migration:up` and the test set-up.
 */
export async function migrateDatabase(options: Options): Promise<MigrationOutcome> {
  await ensureDatabase(options);
  const orm = await MikroORM.init({ ...options, pool: { min: 0, max: 2 } });
  try {
    const lock = new Client({ connectionString: options.clientUrl });
    await lock.connect();
    try {
      await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      const applied = await orm.migrator.up();
      return { applied: applied.map((m) => m.name) };
    } finally {
      await lock
        .query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
        .catch(() => undefined);
      await lock.end();
    }
  } finally {
    await orm.close(true);
  }
}

/**
 * On its own ORM instance: MikroORM switches the instance to the management database to run
 * CREATE DATABASE, and leaves it there when that fails because a concurrent caller won the race.
 */
async function ensureDatabase(options: Options): Promise<void> {
  const orm = await MikroORM.init({ ...options, pool: { min: 0, max: 1 } });
  try {
    await orm.schema.ensureDatabase();
  } catch (error) {
    if (!/already exists/.test((error as Error).message)) throw error;
  } finally {
    await orm.close(true);
  }
}
