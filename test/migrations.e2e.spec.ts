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

  it("upgrade a database holding the previous release's runs (lanes, journal seqs, outbox)", async () => {
    const oldName = `codelab_test_upgrade_${uniqueSuffix()}`;
    const old = createOrmConfig({
      databaseUrl: databaseUrl(oldName),
      dbPoolMax: 2,
      nodeEnv: 'test',
    });
    const orm = await MikroORM.init({ ...old, ensureDatabase: true });
    const client = new Client({ connectionString: old.clientUrl });
    try {
      await orm.migrator.up({ to: 'Migration20261123133334_run_lease_epoch' });
      await client.connect();
      // What the previous release left: a session with a replied run and a queued one.
      await client.query(`
        insert into users (id, email, password_hash) values ('00000000-0000-4000-8000-000000000001', 'u@example.com', 'x');
        insert into projects (id, owner_id, name) values ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', 'p');
        insert into chat_sessions (id, project_id, owner_id, title, last_seq) values ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', 's', 3);
        insert into runs (id, session_id, project_id, owner_id, agent_id, agent_name, status, input_message_id, steps) values
          ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000009', 'A', 'completed', '00000000-0000-4000-8000-0000000000b1', '{"reply_message_id": "00000000-0000-4000-8000-0000000000b2", "memory_stored": true}'),
          ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000009', 'A', 'queued', '00000000-0000-4000-8000-0000000000b3', '{}');
        insert into messages (id, session_id, seq, role, content, run_id, metadata) values
          ('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-000000000003', 1, 'user', 'q1', '00000000-0000-4000-8000-0000000000a1', '{}'),
          ('00000000-0000-4000-8000-0000000000b2', '00000000-0000-4000-8000-000000000003', 2, 'assistant', 'a1', '00000000-0000-4000-8000-0000000000a1', '{}'),
          ('00000000-0000-4000-8000-0000000000b3', '00000000-0000-4000-8000-000000000003', 3, 'user', 'q2', '00000000-0000-4000-8000-0000000000a2', '{}');
        insert into run_outbox (id, run_id) values (gen_random_uuid(), '00000000-0000-4000-8000-0000000000a2');
        insert into idempotency_records (owner_id, key, request_hash) values ('00000000-0000-4000-8000-000000000001', 'k', 'h');
      `);
      await orm.migrator.up();

      const { rows: runs } = await client.query(
        'select id, lane, lane_seq, state, dispatches from runs order by lane_seq',
      );
      expect(runs).toEqual([
        expect.objectContaining({
          lane: 'session:00000000-0000-4000-8000-000000000003',
          lane_seq: '1',
          state: { reply_message_id: '00000000-0000-4000-8000-0000000000b2', memory_stored: true },
        }),
        expect.objectContaining({ lane_seq: '3', dispatches: 1 }),
      ]);
      const { rows: reply } = await client.query(
        "select step_seq from messages where role = 'assistant'",
      );
      expect(reply).toEqual([{ step_seq: 1 }]);
      const { rows: outbox } = await client.query('select run_id, dispatch from run_outbox');
      expect(outbox).toEqual([{ run_id: '00000000-0000-4000-8000-0000000000a2', dispatch: 1 }]);
      const { rows: keys } = await client.query(
        'select expires_at > now() as live from idempotency_records',
      );
      expect(keys).toEqual([{ live: true }]);
    } finally {
      await client.end().catch(() => undefined);
      await orm.close(true);
      await dropTestDatabase(oldName);
    }
  });

  it('refuse a database whose name does not say test', () => {
    expect(() => assertTestDatabaseName('codelab')).toThrow(/must contain "test"/);
    expect(() => databaseUrl('production_db')).toThrow(/Refusing/);
  });
});
