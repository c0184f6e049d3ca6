import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { testTools } from './testing/test-tools';
import { ToolRegistry } from './tool-registry';

/** The executable tools of this process. */
@Module({
  providers: [ToolRegistry],
  exports: [ToolRegistry],
})
export class ToolsModule implements OnModuleInit {
  constructor(
    private readonly registry: ToolRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    if (this.config.testTools.enabled)
      for (const tool of testTools(this.config.testTools.dir)) this.registry.register(tool);
  }
}
