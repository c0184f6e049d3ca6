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
import { ReadinessChecks } from './observability/health/readiness-checks';
import { LoggingModule } from './observability/logging.module';
import { type MetricsEndpoint, MetricsModule } from './observability/metrics/metrics.module';
import { RedisModule } from './redis/redis.module';

// The platform's public surface (index.ts re-exports this file).
export { type MetricsEndpoint } from './observability/metrics/metrics.module';
export { METRICS_PATH, MetricsServer } from './observability/metrics/metrics-server';

export interface PlatformOptions {
  config: AppConfig;
  orm: Options;
  /**
   * `app`: `/metrics` is a route of the process's HTTP app (the worker's WORKER_PORT).
   * `own-port`: it is served only by the MetricsServer (the API's METRICS_PORT), never by the app.
   */
  metrics: MetricsEndpoint;
}

/** Cross-cutting infrastructure every process of CodeLab boots with. */
@Global()
@Module({})
export class PlatformModule {
  static forRoot({ config, orm, metrics }: PlatformOptions): DynamicModule {
    return {
      module: PlatformModule,
      imports: [
        ConfigModule.forRoot(config),
        CqrsModule.forRoot(),
        LoggingModule,
        MetricsModule.forRoot(metrics),
        RedisModule,
        DatabaseModule.forRoot(orm),
        DomainEventsModule,
        HealthModule,
      ],
      providers: [
        LifecycleState,
        ReadinessChecks,
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
      ],
      exports: [LifecycleState, ReadinessChecks],
    };
  }
}
