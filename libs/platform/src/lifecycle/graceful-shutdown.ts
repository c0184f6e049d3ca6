import type { INestApplication, LoggerService } from '@nestjs/common';
import { type AppConfig } from '../config/app-config';
import { LifecycleState } from './lifecycle-state';

/**
 * SIGTERM/SIGINT: readiness turns 503 at once, then after SHUTDOWN_READINESS_DELAY_MS (time for
 * the load balancer to notice) the app closes: the HTTP server stops accepting, in-flight requests
 * finish, shutdown hooks close connections. If that takes longer than SHUTDOWN_GRACE_MS the
 * process exits anyway.
 */
export function installGracefulShutdown(
  app: INestApplication,
  config: AppConfig,
  logger: LoggerService,
): void {
  let started = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (started) return;
    started = true;
    logger.log(`Received ${signal}; draining`, 'Shutdown');
    app.get(LifecycleState).beginShutdown();
    const force = setTimeout(() => {
      logger.error(
        `Shutdown exceeded ${config.shutdown.graceMs} ms; exiting`,
        undefined,
        'Shutdown',
      );
      process.exit(1);
    }, config.shutdown.graceMs);
    force.unref();
    try {
      if (config.shutdown.readinessDelayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, config.shutdown.readinessDelayMs));
      }
      await app.close();
      logger.log('Shutdown complete', 'Shutdown');
      process.exit(0);
    } catch (error) {
      logger.error(
        `Shutdown failed: ${(error as Error).message}`,
        (error as Error).stack,
        'Shutdown',
      );
      process.exit(1);
    }
  };
  process.once('SIGTERM', (s) => void shutdown(s));
  process.once('SIGINT', (s) => void shutdown(s));
}
