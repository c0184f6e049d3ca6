import {
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { Redis } from 'ioredis';
import { type AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { ThrottledLog } from '../observability/throttled-log';
import { redisReconnectDelay } from './bullmq-connection';
import { RedisEvictionPolicy } from './redis-eviction-policy';
import { REDIS } from './redis-token';

export { REDIS } from './redis-token';

export function createRedisClient(url: string, name: string): Redis {
  const client = new Redis(url, {
    connectionName: name,
    // Connected in onModuleInit, so start-up knows the outcome and shutdown never races a
    // half-open connect.
    lazyConnect: true,
    // Fail a command after one reconnect attempt instead of queueing forever while Redis is down.
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: redisReconnectDelay,
  });
  // ioredis emits on every failed reconnect; one line per 10 s is enough.
  const log = new ThrottledLog(new Logger(`Redis:${name}`));
  client.on('error', (error: Error) =>
    log.warn('error', `Redis connection error: ${error.message}`),
  );
  return client;
}

@Injectable()
class RedisLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Redis');

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly evictionPolicy: RedisEvictionPolicy,
  ) {}

  async onModuleInit(): Promise<void> {
    // Redis being down must not stop the process from starting: readiness reports it, and
    // ioredis keeps reconnecting in the background.
    const connected = await this.redis.connect().then(
      () => true,
      (error: Error) => {
        this.logger.warn(
          `Redis unavailable at start-up (${error.message}); retrying in the background`,
        );
        return false;
      },
    );
    // An evicting Redis loses queued work silently: say so at start (it never stops the start).
    if (connected) await this.evictionPolicy.check();
    else this.redis.once('ready', () => void this.evictionPolicy.check());
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.redis.status === 'ready') {
      await this.redis.quit().catch(() => this.redis.disconnect());
    } else {
      this.redis.disconnect();
    }
  }
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => createRedisClient(config.redisUrl, 'codelab-commands'),
    },
    RedisEvictionPolicy,
    RedisLifecycle,
  ],
  exports: [REDIS, RedisEvictionPolicy],
})
export class RedisModule {}
