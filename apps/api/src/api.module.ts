import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import {
  type AppConfig,
  PlatformModule,
  RateLimitModule,
  UserThrottlerGuard,
} from '@codelab/platform';
import { AuthModule, JwtAuthGuard } from '@codelab/auth';
import { ProjectsHttpModule } from '@codelab/projects';
import { AgentsHttpModule } from '@codelab/agents';
import { SessionsHttpModule } from '@codelab/sessions';
import { StreamingModule } from '@codelab/streaming';
import { WorkspaceHttpModule } from '@codelab/workspace';
import { ApprovalsHttpModule } from '@codelab/approvals';
import { HandoffsHttpModule } from '@codelab/handoffs';
import { OrchestrationHttpModule } from '@codelab/orchestration';
import { createOrmConfig } from '../../../mikro-orm.config';
import { WorkerModule } from '../../worker/src/worker.module';

/** The API process; with APP_ROLE=all it also runs the worker's processors in-process. */
@Module({})
export class ApiModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        // /metrics is served on METRICS_PORT (MetricsServer), never on the public API port.
        PlatformModule.forRoot({ config, orm: createOrmConfig(config), metrics: 'own-port' }),
        RateLimitModule,
        AuthModule,
        ProjectsHttpModule,
        AgentsHttpModule,
        SessionsHttpModule,
        WorkspaceHttpModule,
        ApprovalsHttpModule,
        HandoffsHttpModule,
        OrchestrationHttpModule,
        StreamingModule,
        ...(config.role === 'all' ? [WorkerModule] : []),
      ],
      providers: [
        // Order matters: authenticate first, so the rate limit can key on the user.
        { provide: APP_GUARD, useExisting: JwtAuthGuard },
        { provide: APP_GUARD, useClass: UserThrottlerGuard },
      ],
    };
  }
}
