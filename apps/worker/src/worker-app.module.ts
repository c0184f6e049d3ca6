import { DynamicModule, Module } from '@nestjs/common';
import { type AppConfig, PlatformModule } from '@codelab/platform';
import { createOrmConfig } from '../../../mikro-orm.config';
import { WorkerModule } from './worker.module';

/** The worker process: platform (config, database, Redis, logs, metrics, health) + processors. */
@Module({})
export class WorkerAppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: WorkerAppModule,
      imports: [
        PlatformModule.forRoot({ config, orm: createOrmConfig(config), metrics: 'app' }),
        WorkerModule,
      ],
    };
  }
}
