import { Inject, Injectable } from '@nestjs/common';
import { ChatOpenAI } from '@langchain/openai';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { OfflineChatModel } from './offline/offline-chat-model';
import { type ModelTarget } from './resilience/model-caller';

export interface ModelSpec {
  model: string;
  temperature: number;
}

export interface ChatModelHandle {
  model: OfflineChatModel | ChatOpenAI;
  target: ModelTarget;
}

/**
 * Builds the LangChain chat model for an agent: ChatOpenAI for `openai` (OpenAI, vLLM, Ollama,
 * LiteLLM, OpenRouter through OPENAI_BASE_URL) or the built-in offline model. Client-side retries
 * are off: ModelCaller owns retries, timeouts and the circuit breaker.
 */
@Injectable()
export class ChatModelFactory {
  private readonly offline: OfflineChatModel;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.offline = new OfflineChatModel({ tokenDelayMs: config.llm.offlineTokenDelayMs });
  }

  get provider(): 'offline' | 'openai' {
    return this.config.llm.provider;
  }

  forAgent(spec: ModelSpec): ChatModelHandle {
    const llm = this.config.llm;
    if (llm.provider === 'offline') {
      return { model: this.offline, target: { provider: 'offline', endpoint: 'offline' } };
    }
    const model = new ChatOpenAI({
      model: spec.model,
      temperature: spec.temperature,
      apiKey: llm.openaiApiKey || 'not-needed',
      configuration: llm.openaiBaseUrl ? { baseURL: llm.openaiBaseUrl } : undefined,
      maxRetries: 0,
      timeout: llm.timeoutMs,
      streaming: true,
      streamUsage: true,
    });
    return {
      model,
      target: { provider: 'openai', endpoint: `openai:${llm.openaiBaseUrl ?? 'default'}` },
    };
  }
}
