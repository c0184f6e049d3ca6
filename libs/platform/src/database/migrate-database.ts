import { MikroORM, type Options } from '@mikro-orm/postgresql';

export interface MigrationOutcome {
  applied: string[];
}

/**
 * Creates the database when missing and applies pending migrations, on a short-lived ORM of its
 * own so the app's pool never runs DDL. Used by `npm start` (DB_MIGRATE_ON_START), the
 * `migration:up` script (Kubernetes Job) and the test set-up.
 */
export async function migrateDatabase(options: Options): Promise<MigrationOutcome> {
  const orm = await MikroORM.init({ ...options, pool: { min: 0, max: 2 } });
  try {
    await orm.schema.ensureDatabase();
    const applied = await orm.migrator.up();
    return { applied: applied.map((m) => m.name) };
  } finally {
    await orm.close(true);
  }
}
