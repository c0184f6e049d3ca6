import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { WorkspaceFiles, WorkspaceModule } from '@codelab/workspace';
import { testTools } from './testing/test-tools';
import { ToolRegistry } from './tool-registry';
import { fileTools } from './workspace/file-tools';

/** The executable tools of this process: the workspace tools (and, in tests, the test tools). */
@Module({
  imports: [WorkspaceModule],
  providers: [ToolRegistry],
  exports: [ToolRegistry],
})
export class ToolsModule implements OnModuleInit {
  constructor(
    private readonly registry: ToolRegistry,
    private readonly files: WorkspaceFiles,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    for (const tool of fileTools(this.files)) this.registry.register(tool);
    if (this.config.testTools.enabled)
      for (const tool of testTools(this.config.testTools.dir)) this.registry.register(tool);
  }
}
