import { type DynamicModule, Global, Module, type OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, register } from 'prom-client';
import {
  makeCounterProvider,
  makeHistogramProvider,
  PrometheusModule,
} from '@willsoto/nestjs-prometheus';
import { MetricsController } from './metrics.controller';
import { MetricsServer } from './metrics-server';
import {
  HTTP_CLIENT_ERRORS,
  HTTP_REQUEST_DURATION,
  ISOLATION_DENIALS,
  RATE_LIMIT_REJECTIONS,
  RATE_LIMIT_STORAGE_ERRORS,
} from './metric-names';

const platformMetrics = [
  makeHistogramProvider({
    name: HTTP_REQUEST_DURATION,
    help: 'HTTP request duration in seconds, by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  }),
  makeCounterProvider({
    name: HTTP_CLIENT_ERRORS,
    help: 'Connections the HTTP server cut before a request reached the app, by reason (timeout: headers or body too slow; headers_too_large; malformed)',
    labelNames: ['reason'],
  }),
  makeCounterProvider({
    name: ISOLATION_DENIALS,
    help: 'Requests for a resource that does not exist for the caller (missing or owned by another user)',
    labelNames: ['resource'],
  }),
  makeCounterProvider({
    name: RATE_LIMIT_REJECTIONS,
    help: 'Requests rejected by the rate limiter',
  }),
  makeCounterProvider({
    name: RATE_LIMIT_STORAGE_ERRORS,
    help: 'Rate limiter storage failures (requests were let through)',
  }),
];

/**
 * Where a process serves `GET /metrics`: `app` as a route of its HTTP app (the worker, on
 * WORKER_PORT), or `own-port` on a separate server (the API: METRICS_PORT, never the public port;
 * the entry point starts the MetricsServer).
 */
export type MetricsEndpoint = 'app' | 'own-port';

@Global()
@Module({})
export class MetricsModule implements OnModuleInit {
  static forRoot(endpoint: MetricsEndpoint): DynamicModule {
    if (endpoint === 'own-port') {
      return {
        module: MetricsModule,
        providers: [...platformMetrics, MetricsServer],
        exports: [...platformMetrics, MetricsServer],
      };
    }
    return {
      module: MetricsModule,
      imports: [
        PrometheusModule.register({
          path: '/metrics',
          controller: MetricsController,
          // Collected in onModuleInit below, minus the series promtool rejects.
          defaultMetrics: { enabled: false },
        }),
      ],
      providers: platformMetrics,
      exports: platformMetrics,
    };
  }

  onModuleInit(): void {
    if (register.getSingleMetric('process_cpu_user_seconds_total')) return;
    collectDefaultMetrics({ register });
    // Gauges named *_total break Prometheus naming rules (promtool flags them); their per-type
    // siblings nodejs_active_handles / _requests / _resources carry the same information.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      register.removeSingleMetric(name);
    }
  }
}
