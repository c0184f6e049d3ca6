import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import {
  ApiExcludeController,
  ApiOkResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
} from '@nestjs/terminus';
import { MikroORM } from '@mikro-orm/postgresql';
import { Redis } from 'ioredis';
import { ProblemDto } from '../../errors/problem-details';
import { DomainError } from '../../errors/domain-error';
import { Public } from '../../http/public.decorator';
import { LifecycleState } from '../../lifecycle/lifecycle-state';
import { REDIS } from '../../redis/redis.module';
import { ReadinessChecks } from './readiness-checks';

const CHECK_TIMEOUT_MS = 1_500;

class NotReadyError extends DomainError {
  readonly code = 'NOT_READY';
  readonly kind = 'unavailable' as const;
}

// Probes for the platform, documented in the README; not part of the client contract.
@ApiExcludeController()
@ApiTags('health')
@Public()
@SkipThrottle()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly orm: MikroORM,
    private readonly indicators: HealthIndicatorService,
    private readonly lifecycle: LifecycleState,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly extraChecks: ReadinessChecks,
  ) {}

  // Liveness (GET /health) is answered before the framework: see http/liveness-first.ts.

  /**
   * Readiness: PostgreSQL and Redis answer, and every dependency a feature registered (Qdrant
   * when memory lives there), and the process is not draining.
   */
  @Get('ready')
  @HealthCheck()
  @ApiOkResponse({ description: 'Ready to take traffic' })
  @ApiServiceUnavailableResponse({
    description: 'A dependency is down or the process is draining',
    type: ProblemDto,
  })
  async readiness(): Promise<HealthCheckResult> {
    try {
      return await this.health.check([
        () => {
          const check = this.indicators.check('lifecycle');
          return this.lifecycle.shuttingDown
            ? check.down({ message: 'shutting down' })
            : check.up();
        },
        () =>
          this.indicators
            .check('postgres')
            .attempt(async () => {
              await this.orm.em.getConnection().execute('select 1');
            })
            .withTimeout(CHECK_TIMEOUT_MS),
        () =>
          this.indicators
            .check('redis')
            .attempt(async () => {
              const pong = await this.redis.ping();
              if (pong !== 'PONG') throw new Error(`unexpected reply ${pong}`);
            })
            .withTimeout(CHECK_TIMEOUT_MS),
        ...this.extraChecks.entries().map(
          ([name, check]) =>
            () =>
              this.indicators.check(name).attempt(check).withTimeout(CHECK_TIMEOUT_MS),
        ),
      ]);
    } catch (error) {
      if (error instanceof ServiceUnavailableException) {
        throw new NotReadyError('Not ready', { checks: error.getResponse() });
      }
      throw error;
    }
  }
}
