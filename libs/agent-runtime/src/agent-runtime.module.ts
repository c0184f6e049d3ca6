import { Module, type OnModuleInit } from '@nestjs/common';
import { LlmModule } from '@codelab/llm';
import { MemoryModule } from '@codelab/memory';
import { RunHandlers } from '@codelab/runs';
import { SessionsModule } from '@codelab/sessions';
import { ToolsModule } from '@codelab/tools';
import { ApprovalsModule } from '@codelab/approvals';
import { AgentRunHandler } from './agent-run.handler';
import { agentRuntimeMetricProviders } from './agent-runtime.metrics';
import { PromptBuilder } from './prompt-builder';

/** Runs of kind `agent`: an agent answering in a conversation (worker processes). */
@Module({
  imports: [SessionsModule, LlmModule, MemoryModule, ToolsModule, ApprovalsModule],
  providers: [AgentRunHandler, PromptBuilder, ...agentRuntimeMetricProviders],
})
export class AgentRuntimeModule implements OnModuleInit {
  constructor(
    private readonly handlers: RunHandlers,
    private readonly handler: AgentRunHandler,
  ) {}

  onModuleInit(): void {
    this.handlers.register(this.handler);
  }
}
