import { Client } from 'pg';
import { migrateDatabase } from '@codelab/platform';
import { createOrmConfig } from '../mikro-orm.config';
import { MikroORM } from '@mikro-orm/postgresql';
import { dropTestDatabase } from './support/test-database';
import {
  assertTestDatabaseName,
  databaseUrl,
  TEST_POSTGRES_URL,
  uniqueSuffix,
} from './support/test-env';

describe('migrations', () => {
  const dbName = `codelab_test_migrations_${uniqueSuffix()}`;
  const options = createOrmConfig({
    databaseUrl: databaseUrl(dbName),
    dbPoolMax: 2,
    nodeEnv: 'test',
  });

  afterAll(async () => {
    await dropTestDatabase(dbName);
  });

  it('create a missing database and apply once, even when started concurrently', async () => {
    const outcomes = await Promise.all([
      migrateDatabase(options),
      migrateDatabase(options),
      migrateDatabase(options),
    ]);
    const applied = outcomes.flatMap((o) => o.applied);
    // Every migration applied exactly once across the three callers.
    expect(applied.length).toBeGreaterThan(0);
    expect(new Set(applied).size).toBe(applied.length);
    expect((await migrateDatabase(options)).applied).toEqual([]);

    // The losers of the CREATE DATABASE race must not have migrated the maintenance database.
    const admin = new Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    const { rows } = await admin.query("select to_regclass('public.mikro_orm_migrations') as t");
    await admin.end();
    expect(rows[0].t).toBeNull();
  });

  it('leave the schema exactly as the entities describe it (no pending diff)', async () => {
    const orm = await MikroORM.init(options);
    try {
      const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false });
      expect(diff.trim()).toBe('');
    } finally {
      await orm.close(true);
    }
  });

  it('create the keyset index the project list relies on', async () => {
    const client = new Client({ connectionString: options.clientUrl });
    await client.connect();
    const { rows } = await client.query(
      "select indexdef from pg_indexes where tablename = 'projects' and indexname = 'projects_owner_created_idx'",
    );
    await client.end();
    expect(rows[0]?.indexdef).toMatch(/\(owner_id, created_at DESC, id DESC\)/);
  });

  it('refuse a database whose name does not say test', () => {
    expect(() => assertTestDatabaseName('codelab')).toThrow(/must contain "test"/);
    expect(() => databaseUrl('production_db')).toThrow(/Refusing/);
  });
});
