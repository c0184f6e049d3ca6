import { Module, type OnModuleInit } from '@nestjs/common';
import { LlmModule } from '@codelab/llm';
import { MemoryModule } from '@codelab/memory';
import { RunHandlers, RunKind } from '@codelab/runs';
import { SessionsModule } from '@codelab/sessions';
import { ToolsModule } from '@codelab/tools';
import { ApprovalsModule } from '@codelab/approvals';
import { HandoffsModule } from '@codelab/handoffs';
import { AgentRunHandler } from './agent-run.handler';
import { HandOffs } from './handoffs/hand-offs';
import { agentRuntimeMetricProviders } from './agent-runtime.metrics';
import { PromptBuilder } from './prompt-builder';

/**
 * Runs of kind `agent` (an agent answering in a conversation) and `task` (an agent doing what
 * another delegated to it), in worker processes.
 */
@Module({
  imports: [SessionsModule, LlmModule, MemoryModule, ToolsModule, ApprovalsModule, HandoffsModule],
  providers: [AgentRunHandler, PromptBuilder, HandOffs, ...agentRuntimeMetricProviders],
})
export class AgentRuntimeModule implements OnModuleInit {
  constructor(
    private readonly handlers: RunHandlers,
    private readonly handler: AgentRunHandler,
  ) {}

  onModuleInit(): void {
    this.handlers.register(this.handler);
    // Delegated tasks run through the same loop, reading their input instead of a message.
    this.handlers.register(this.handler.forKind(RunKind.Task));
  }
}
