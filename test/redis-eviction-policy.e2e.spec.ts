import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  checkRedisEvictionPolicy,
  type EvictionPolicyCheck,
  RedisEvictionPolicy,
} from '@codelab/platform';
import {
  type AppProcess,
  freePort,
  MAIN_JS,
  startAppProcess,
  waitFor,
  withDeadline,
} from './support/child-process';
import { PrivateRedis } from './support/private-redis';
import { createTestApp } from './support/test-app';
import { dropTestDatabase } from './support/test-database';
import { databaseUrl, uniqueSuffix } from './support/test-env';

const client = (url: string) => {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  return redis;
};

/** BullMQ needs noeviction: every CodeLab process says so at start when Redis may evict keys. */
describe('the Redis eviction policy check (private redis-servers)', () => {
  const redis = new PrivateRedis();
  let admin: Redis;

  beforeAll(async () => {
    await redis.start();
    admin = client(redis.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis.destroy();
  });

  const setPolicy = (policy: string) => admin.config('SET', 'maxmemory-policy', policy);

  it('warns about any policy but noeviction, read with CONFIG GET', async () => {
    await setPolicy('allkeys-lru');
    const evicting = await checkRedisEvictionPolicy(admin);
    expect(evicting).toEqual({
      policy: 'allkeys-lru',
      source: 'config',
      warning: expect.stringMatching(/^Redis maxmemory-policy is "allkeys-lru", not "noeviction"/),
    });
    expect(evicting.warning).toMatch(/BullMQ requires "noeviction"/);

    await setPolicy('noeviction');
    expect(await checkRedisEvictionPolicy(admin)).toEqual({
      policy: 'noeviction',
      source: 'config',
      warning: null,
    });
  });

  describe('where CONFIG is disabled (managed Redis)', () => {
    let child: ChildProcess | undefined;
    let restricted: Redis;

    beforeAll(async () => {
      const port = await freePort();
      // Like ElastiCache and friends: CONFIG is not available to clients.
      child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--maxmemory-policy',
          'volatile-lru',
          '--rename-command',
          'CONFIG',
          '',
        ],
        { stdio: 'ignore' },
      );
      restricted = client(`redis://127.0.0.1:${port}`);
      await waitFor(
        'the restricted redis-server',
        async () => (await restricted.ping()) === 'PONG',
      );
    });
    afterAll(async () => {
      restricted?.disconnect();
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child?.once('exit', resolve));
        child.kill('SIGKILL');
        await withDeadline('the restricted redis-server to exit', exited, 10_000);
      }
    });

    it('falls back to INFO memory', async () => {
      await expect(restricted.config('GET', 'maxmemory-policy')).rejects.toThrow(
        /unknown command/i,
      );
      expect(await checkRedisEvictionPolicy(restricted)).toEqual({
        policy: 'volatile-lru',
        source: 'info',
        warning: expect.stringMatching(/^Redis maxmemory-policy is "volatile-lru"/),
      });
    });
  });

  describe('at the start of the API (in-process)', () => {
    let warn: jest.SpyInstance;
    beforeEach(() => {
      warn = jest.spyOn(Logger.prototype, 'warn');
    });
    afterEach(() => warn.mockRestore());

    const startedWith = async (policy: string): Promise<EvictionPolicyCheck | undefined> => {
      await setPolicy(policy);
      const t = await createTestApp({ env: { REDIS_URL: redis.url } });
      try {
        return t.app.get(RedisEvictionPolicy).last;
      } finally {
        await t.close();
      }
    };
    const warnings = () =>
      warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes('maxmemory-policy'));

    it('logs a warning when Redis may evict keys (and starts all the same)', async () => {
      const result = await startedWith('allkeys-lru');
      expect(result).toMatchObject({ policy: 'allkeys-lru', source: 'config' });
      expect(warnings()).toEqual([result?.warning]);
    });

    it('says nothing with noeviction', async () => {
      expect(await startedWith('noeviction')).toEqual({
        policy: 'noeviction',
        source: 'config',
        warning: null,
      });
      expect(warnings()).toEqual([]);
    });
  });

  describe('at the start of a worker process (the built app, structured logs)', () => {
    const dbName = `codelab_test_evict_${uniqueSuffix()}`;
    const cwd = mkdtempSync(join(tmpdir(), 'codelab-evict-'));
    let worker: AppProcess | undefined;

    beforeAll(() => {
      if (!existsSync(MAIN_JS))
        throw new Error(`${MAIN_JS} is missing: run \`npm run build\` (npm test does)`);
    });
    afterAll(async () => {
      if (worker && worker.child.exitCode === null) worker.child.kill('SIGKILL');
      await dropTestDatabase(dbName);
      rmSync(cwd, { recursive: true, force: true });
    });

    it('logs the warning as a JSON line at level warn, then serves /ready', async () => {
      await setPolicy('allkeys-lru');
      const port = await freePort();
      worker = startAppProcess(
        {
          APP_ROLE: 'worker',
          WORKER_PORT: String(port),
          DATABASE_URL: databaseUrl(dbName),
          REDIS_URL: redis.url,
          REDIS_KEY_PREFIX: `codelab-test:${uniqueSuffix()}:`,
          JWT_SECRET: 'w'.repeat(40),
          DATA_DIR: join(cwd, 'data'),
          LOG_LEVEL: 'info',
        },
        cwd,
      );
      const app = worker;
      const line = () =>
        app
          .output()
          .split('\n')
          .find((l) => l.includes('maxmemory-policy is'));
      await waitFor('the eviction warning', async () => line() !== undefined);
      expect(JSON.parse(line() ?? '{}')).toMatchObject({
        level: 40,
        role: 'worker',
        context: 'Redis',
        msg: expect.stringMatching(/^Redis maxmemory-policy is "allkeys-lru", not "noeviction"/),
      });
      await waitFor('the worker to be ready', async () => {
        const res = await fetch(`http://127.0.0.1:${port}/ready`);
        return res.status === 200;
      });
      app.child.kill('SIGTERM');
      expect(await withDeadline('the worker to exit', app.exited, 15_000)).toBe(0);
    });
  });
});
