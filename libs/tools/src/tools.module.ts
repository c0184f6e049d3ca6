import { Inject, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Gauge } from 'prom-client';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { WorkspaceFiles, WorkspaceModule } from '@codelab/workspace';
import { CommandSandbox } from './sandbox/command-sandbox';
import { testTools } from './testing/test-tools';
import { ToolRegistry } from './tool-registry';
import { SANDBOX_UNAVAILABLE, toolsMetricProviders } from './tools.metrics';
import { handoffTools } from './handoffs/handoff-tools';
import { commandTool } from './workspace/command-tool';
import { fileTools } from './workspace/file-tools';

/**
 * The executable tools of this process (workers): the workspace tools, run_command in its sandbox
 * (self-tested at start), and, in tests, the test tools.
 */
@Module({
  imports: [WorkspaceModule],
  providers: [
    ToolRegistry,
    { provide: CommandSandbox, useFactory: () => new CommandSandbox() },
    ...toolsMetricProviders,
  ],
  exports: [ToolRegistry],
})
export class ToolsModule implements OnModuleInit {
  private readonly logger = new Logger(ToolsModule.name);

  constructor(
    private readonly registry: ToolRegistry,
    private readonly files: WorkspaceFiles,
    private readonly sandbox: CommandSandbox,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(SANDBOX_UNAVAILABLE) private readonly unavailable: Gauge<string>,
  ) {}

  onModuleInit(): void {
    for (const tool of fileTools(this.files)) this.registry.register(tool);
    for (const tool of handoffTools()) this.registry.register(tool);
    this.registry.register(
      commandTool(this.files, this.sandbox, this.config.workspace.commandTimeoutMs),
    );
    if (this.config.testTools.enabled)
      for (const tool of testTools(this.config.testTools.dir)) this.registry.register(tool);
    // Where commands run (workers), at start and in the background: a command waits for it.
    if (this.config.role === 'api') return;
    void this.sandbox.selfTest().then((status) => {
      this.unavailable.set(status.ok ? 0 : 1);
      if (!status.ok)
        this.logger.error(
          `run_command is disabled: the sandbox self-test failed (${status.reason})`,
        );
    });
  }
}
