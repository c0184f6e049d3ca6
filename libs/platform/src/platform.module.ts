import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import type { Options } from '@mikro-orm/postgresql';
import { type AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { DomainEventsModule } from './events/domain-events.module';
import { ProblemDetailsFilter } from './errors/problem-details.filter';
import { LifecycleState } from './lifecycle/lifecycle-state';
import { HealthModule } from './observability/health/health.module';
import { LoggingModule } from './observability/logging.module';
import { MetricsModule } from './observability/metrics/metrics.module';
import { RedisModule } from './redis/redis.module';

export interface PlatformOptions {
  config: AppConfig;
  orm: Options;
}

/** Cross-cutting infrastructure every process of CodeLab boots with. */
@Global()
@Module({})
export class PlatformModule {
  static forRoot({ config, orm }: PlatformOptions): DynamicModule {
    return {
      module: PlatformModule,
      imports: [
        ConfigModule.forRoot(config),
        CqrsModule.forRoot(),
        LoggingModule,
        MetricsModule,
        RedisModule,
        DatabaseModule.forRoot(orm),
        DomainEventsModule,
        HealthModule,
      ],
      providers: [LifecycleState, { provide: APP_FILTER, useClass: ProblemDetailsFilter }],
      exports: [LifecycleState],
    };
  }
}
