import { MikroORM } from '@mikro-orm/postgresql';
import { migrateDatabase } from '@codelab/platform';
import { createOrmConfig } from '../../../../mikro-orm.config';
import { dropTestDatabase } from '../../../../test/support/test-database';
import { databaseUrl, uniqueSuffix } from '../../../../test/support/test-env';
import { memoryStoreContract } from '../testing/memory-store.contract';
import { PgMemoryStore } from './pg-memory.store';

memoryStoreContract('PostgreSQL', async () => {
  const dbName = `codelab_test_memory_${uniqueSuffix()}`;
  const options = createOrmConfig({
    databaseUrl: databaseUrl(dbName),
    dbPoolMax: 3,
    nodeEnv: 'test',
  });
  await migrateDatabase(options);
  const orm = await MikroORM.init(options);
  const em = orm.em.fork();
  return {
    store: new PgMemoryStore(em),
    tearDown: async () => {
      await orm.close(true);
      await dropTestDatabase(dbName);
    },
  };
});
