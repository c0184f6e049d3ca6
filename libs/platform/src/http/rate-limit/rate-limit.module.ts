import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import { type AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../config/config.module';
import { RATE_LIMIT_STORAGE_ERRORS } from '../../observability/metrics/metric-names';
import { REDIS } from '../../redis/redis.module';
import { AUTH_RATE_LIMIT_KEY } from './rate-limit.decorators';
import { RedisThrottlerStorage } from './redis-throttler.storage';

/**
 * Two throttlers: `default` for every route (per user, or per IP when anonymous) and a stricter
 * `auth` one that applies only to routes marked @AuthRateLimit(). Pair with UserThrottlerGuard.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG, REDIS, getToken(RATE_LIMIT_STORAGE_ERRORS)],
      useFactory: (config: AppConfig, redis: Redis, storageErrors: Counter<string>) => {
        const ttl = config.rateLimit.windowSeconds * 1000;
        return {
          throttlers: [
            { name: 'default', ttl, limit: config.rateLimit.perWindow },
            {
              name: 'auth',
              ttl,
              limit: config.rateLimit.authPerWindow,
              skipIf: (context) => !Reflect.getMetadata(AUTH_RATE_LIMIT_KEY, context.getHandler()),
            },
          ],
          storage: new RedisThrottlerStorage(redis, config.redisKeyPrefix, () =>
            storageErrors.inc(),
          ),
        };
      },
    }),
  ],
  exports: [ThrottlerModule],
})
export class RateLimitModule {}
