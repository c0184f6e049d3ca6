import { DynamicModule, Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import type { Options } from '@mikro-orm/postgresql';

/**
 * MikroORM for the process. The entity list and migrations come from the root
 * `mikro-orm.config.ts`, which is the only place that knows every feature's entities.
 */
@Module({})
export class DatabaseModule {
  static forRoot(options: Options): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [MikroOrmModule.forRoot({ ...options, registerRequestContext: true })],
    };
  }
}
