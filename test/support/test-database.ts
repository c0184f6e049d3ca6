import { Client } from 'pg';
import { assertTestDatabaseName, TEST_POSTGRES_URL } from './test-env';

async function withAdmin<T>(
  work: (client: Client) => Promise<T>,
  adminUrl = TEST_POSTGRES_URL,
): Promise<T> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Drops a test database, by default on the shared server (`adminUrl`: another server's). */
export async function dropTestDatabase(name: string, adminUrl?: string): Promise<void> {
  assertTestDatabaseName(name);
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`), adminUrl);
}
