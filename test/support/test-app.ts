import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Redis } from 'ioredis';
import { register } from 'prom-client';
import request from 'supertest';
import { type AppConfig, loadConfig, migrateDatabase } from '@codelab/platform';
import { createApiApp } from '../../apps/api/src/bootstrap';
import { createOrmConfig } from '../../mikro-orm.config';
import {
  type OpenApiDocument,
  OpenApiResponseValidator,
  validatingAgent,
} from './openapi-validator';
import { dropTestDatabase } from './test-database';
import { assertTestDatabaseName, databaseUrl, TEST_REDIS_URL, uniqueSuffix } from './test-env';

export type Http = ReturnType<typeof request>;

export interface TestApp {
  app: NestExpressApplication;
  http: Http;
  config: AppConfig;
  /** Holds every response of `http` to the served OpenAPI document. */
  contract: OpenApiResponseValidator;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Environment variables on top of the test defaults. */
  env?: Record<string, string>;
  /** Reuse another test app's database and Redis prefix (a second replica). */
  shareWith?: TestApp;
  /**
   * A database on another server (e.g. a private PostgreSQL cluster) instead of a fresh one on
   * the shared server; its name must contain "test". Created, migrated, and dropped on close.
   */
  databaseUrl?: string;
}

/**
 * The real API app (same module, same HTTP set-up as production) on a database of its own,
 * migrated by the real migrations, and a Redis key prefix of its own.
 */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const shared = options.shareWith?.config;
  const ownUrl = options.databaseUrl ? new URL(options.databaseUrl) : undefined;
  const dbName = shared
    ? new URL(shared.databaseUrl).pathname.slice(1)
    : ownUrl
      ? ownUrl.pathname.slice(1)
      : `codelab_test_${uniqueSuffix()}`;
  assertTestDatabaseName(dbName);
  const config = loadConfig({
    NODE_ENV: 'test',
    APP_ROLE: 'api',
    LOG_LEVEL: 'silent',
    DATABASE_URL: shared?.databaseUrl ?? options.databaseUrl ?? databaseUrl(dbName),
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: shared?.redisKeyPrefix ?? `codelab-test:${uniqueSuffix()}:`,
    JWT_SECRET: shared?.jwt.secret ?? randomBytes(48).toString('base64url'),
    RATE_LIMIT_AUTH_PER_WINDOW: '10000',
    RATE_LIMIT_PER_WINDOW: '100000',
    DB_POOL_MAX: '5',
    TEST_TOOLS: 'true',
    WORKSPACES_DIR: shared?.workspace.dir ?? join(tmpdir(), `codelab-test-ws-${uniqueSuffix()}`),
    ...options.env,
  });
  if (!shared) await migrateDatabase(createOrmConfig(config));
  // prom-client keeps one global registry; a fresh app registers its metrics anew.
  register.clear();
  const app = await createApiApp(config);
  await app.init();
  const document = (await request(app.getHttpServer()).get('/docs-json').expect(200))
    .body as OpenApiDocument;
  const contract = new OpenApiResponseValidator(document);
  return {
    app,
    http: validatingAgent(request(app.getHttpServer()), contract),
    config,
    contract,
    close: async () => {
      await app.close();
      if (!shared) {
        let adminUrl: string | undefined;
        if (ownUrl) {
          const admin = new URL(ownUrl);
          admin.pathname = '/postgres';
          adminUrl = admin.toString();
        }
        await dropTestDatabase(dbName, adminUrl);
        await rm(config.workspace.dir, { recursive: true, force: true });
        await deleteRedisKeys(TEST_REDIS_URL, config.redisKeyPrefix);
      }
      if (contract.drift.length > 0)
        throw new Error(
          `Responses broke the OpenAPI document:\n${[...new Set(contract.drift)].join('\n')}`,
        );
    },
  };
}

async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface TestUser {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  auth: { Authorization: string };
}

let userCounter = 0;

/** Registers a fresh user through the API and returns its tokens. */
export async function registerUser(http: Http, email?: string): Promise<TestUser> {
  const address = email ?? `user${++userCounter}_${uniqueSuffix()}@example.com`;
  const password = 'correct horse battery staple';
  const res = await http.post('/v1/auth/register').send({ email: address, password }).expect(201);
  return {
    id: res.body.user.id,
    email: res.body.user.email,
    password,
    accessToken: res.body.access_token,
    refreshToken: res.body.refresh_token,
    auth: { Authorization: `Bearer ${res.body.access_token}` },
  };
}

/** Asserts the RFC 9457 shape every error of the API has, and returns the body. */
export function expectProblem(
  res: request.Response,
  status: number,
  code?: string,
): Record<string, unknown> {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toEqual(
    expect.objectContaining({
      type: expect.any(String),
      title: expect.any(String),
      status,
      detail: expect.any(String),
      instance: expect.any(String),
      code: code ?? expect.any(String),
      request_id: expect.any(String),
    }),
  );
  return res.body as Record<string, unknown>;
}
