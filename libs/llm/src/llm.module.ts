import { Module } from '@nestjs/common';
import { ChatModelFactory } from './chat-model.factory';
import { llmMetricProviders } from './llm.metrics';
import { ModelCaller } from './resilience/model-caller';

/** The model layer: provider factory (OpenAI-compatible or offline) and the resilient caller. */
@Module({
  providers: [ChatModelFactory, ModelCaller, ...llmMetricProviders],
  exports: [ChatModelFactory, ModelCaller],
})
export class LlmModule {}
