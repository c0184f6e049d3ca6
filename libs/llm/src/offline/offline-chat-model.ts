import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import {
  BaseChatModel,
  type BaseChatModelCallOptions,
  type BaseChatModelParams,
  type BindToolsInput,
} from '@langchain/core/language_models/chat_models';
import type { BaseLanguageModelInput } from '@langchain/core/language_models/base';
import { AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';
import type { Runnable } from '@langchain/core/runnables';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import {
  failureFor,
  handoverHint,
  isHandedOver,
  OFFLINE_PREFIX,
  parsePlans,
  parseReplies,
  parseToolScript,
  PLANNER_MARKER,
  planFor,
  REPAIR_MARKER,
  replyFor,
  routeFor,
  stableId,
  type ToolDirective,
} from './offline-rules';

export interface OfflineChatModelInput extends BaseChatModelParams {
  /** Delay before each streamed token, to exercise latency-dependent behaviour. */
  tokenDelayMs?: number;
}

export interface OfflineCallOptions extends BaseChatModelCallOptions {
  tools?: { type: 'function'; function: { name: string } }[];
}

export class OfflineModelAbortedError extends Error {
  constructor() {
    super('Offline model call aborted');
    this.name = 'AbortError';
  }
}

const textOf = (message: BaseMessage | undefined): string => {
  if (!message) return '';
  const { content } = message;
  if (typeof content === 'string') return content;
  return content
    .map((part) => ('text' in part && typeof part.text === 'string' ? part.text : ''))
    .join('');
};

// Roughly four characters per token, like the usual BPE vocabularies on English text.
const estimateTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

/**
 * A built-in, deterministic LangChain chat model: the default when no OpenAI key is configured, so
 * the whole product runs and is testable offline. Same interface as ChatOpenAI: streams tokens,
 * binds tools and calls them by rule, answers the planner with a valid plan, reports usage. The
 * rules are in offline-rules.ts.
 */
export class OfflineChatModel extends BaseChatModel<OfflineCallOptions, AIMessageChunk> {
  private readonly tokenDelayMs: number;

  static override lc_name(): string {
    return 'OfflineChatModel';
  }

  constructor(fields: OfflineChatModelInput = {}) {
    super(fields);
    this.tokenDelayMs = fields.tokenDelayMs ?? 0;
  }

  _llmType(): string {
    return 'codelab-offline';
  }

  override bindTools(
    tools: BindToolsInput[],
    kwargs?: Partial<OfflineCallOptions>,
  ): Runnable<BaseLanguageModelInput, AIMessageChunk, OfflineCallOptions> {
    return this.withConfig({
      tools: tools.map(
        (t) => convertToOpenAITool(t) as { type: 'function'; function: { name: string } },
      ),
      ...kwargs,
    });
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const system = messages
      .filter((m) => m.type === 'system')
      .map(textOf)
      .join('\n');
    const last = messages.at(-1);
    const lastHuman = [...messages].reverse().find((m) => m.type === 'human');
    const inputTokens = estimateTokens(messages.map(textOf).join('\n'));
    const signal = options.signal;
    const failure = failureFor(textOf(lastHuman), system);
    if (failure) {
      await this.pause(signal);
      throw Object.assign(new Error(`Offline model: ${failure}`), { status: 422 });
    }

    // The user's message is a script of tool-calling turns; play the next one, if any is left.
    const sinceHuman = lastHuman ? messages.slice(messages.lastIndexOf(lastHuman) + 1) : [];
    const turnsPlayed = sinceHuman.filter(
      (m) => m.type === 'ai' && ((m as AIMessageChunk).tool_calls?.length ?? 0) > 0,
    ).length;
    // After a hand-over the script is the system prompt's (the agent's prompt and its note).
    const handedOver = isHandedOver(system);
    const script = parseToolScript(handedOver ? system : textOf(lastHuman));
    const bound = new Set((options.tools ?? []).map((t) => t.function.name));
    let turn: ToolDirective[] | undefined = script[turnsPlayed];
    if (!turn && !handedOver && turnsPlayed === 0 && bound.has('switch_agent')) {
      const routed = routeFor(textOf(lastHuman), system);
      if (routed)
        turn = [
          { name: 'switch_agent', args: { agent: routed, reason: 'the request fits its role' } },
        ];
    }
    if (turn && turn.every((call) => bound.has(call.name))) {
      await this.pause(signal);
      const chunks = turn.map((call, index) => {
        const args = JSON.stringify(call.args);
        return {
          name: call.name,
          args,
          id: `call_${stableId(call.name, args, String(messages.length), String(index))}`,
          index,
          type: 'tool_call_chunk' as const,
        };
      });
      const outputTokens = estimateTokens(chunks.map((c) => c.args).join(''));
      yield new ChatGenerationChunk({
        text: '',
        message: new AIMessageChunk({
          content: '',
          tool_call_chunks: chunks,
          usage_metadata: {
            input_tokens: inputTokens,
            output_tokens: outputTokens,
            total_tokens: inputTokens + outputTokens,
          },
        }),
      });
      return;
    }
    const unavailable = turn?.find((call) => !bound.has(call.name));

    // `/reply` lines of the request (the last human message, a task's repair request aside): the
    // k-th text answer since it plays the k-th line. Earlier messages of the conversation do not.
    const request = [...messages]
      .reverse()
      .find((m) => m.type === 'human' && !textOf(m).startsWith(REPAIR_MARKER));
    const scripted = request && parseReplies(textOf(request)).length > 0 ? request : undefined;
    const replies = scripted ? parseReplies(textOf(scripted)) : [];
    const answered = scripted
      ? messages
          .slice(messages.indexOf(scripted) + 1)
          .filter((m) => m.type === 'ai' && !((m as AIMessageChunk).tool_calls?.length ?? 0)).length
      : 0;

    let reply: string;
    if (system.includes(PLANNER_MARKER)) {
      const humans = messages.filter((m) => m.type === 'human');
      const request = textOf(humans[0]);
      const plans = parsePlans(request);
      reply = plans.length
        ? plans[Math.min(humans.length - 1, plans.length - 1)]
        : JSON.stringify(planFor(request, system));
    } else if (unavailable) {
      reply = `${OFFLINE_PREFIX} The tool "${unavailable.name}" is not available to this agent.`;
    } else if (replies.length) {
      reply = replies[Math.min(answered, replies.length - 1)];
    } else if (last?.type === 'tool') {
      const results = sinceHuman
        .filter((m) => m.type === 'tool')
        .map(
          (m) =>
            `Tool ${(m as { name?: string }).name ?? 'tool'} returned: ${textOf(m).replace(/\s+/g, ' ').slice(0, 200)}`,
        );
      reply = `${OFFLINE_PREFIX} ${results.join(' | ').slice(0, 800)}`;
    } else {
      reply = replyFor(textOf(lastHuman), system);
      const handover = handedOver ? handoverHint(system) : null;
      if (handover) reply = `${reply} Taking over: ${handover}`;
    }

    const tokens = reply.match(/\S+\s*/g) ?? [reply];
    for (const token of tokens) {
      await this.pause(signal);
      yield new ChatGenerationChunk({
        text: token,
        message: new AIMessageChunk({ content: token }),
      });
      await runManager?.handleLLMNewToken(token);
    }
    yield new ChatGenerationChunk({
      text: '',
      message: new AIMessageChunk({
        content: '',
        usage_metadata: {
          input_tokens: inputTokens,
          output_tokens: tokens.length,
          total_tokens: inputTokens + tokens.length,
        },
      }),
    });
  }

  async _generate(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): Promise<ChatResult> {
    let final: ChatGenerationChunk | undefined;
    for await (const chunk of this._streamResponseChunks(messages, options, runManager)) {
      final = final ? final.concat(chunk) : chunk;
    }
    if (!final) throw new Error('Offline model produced nothing');
    return {
      generations: [final],
      llmOutput: { tokenUsage: (final.message as AIMessageChunk).usage_metadata },
    };
  }

  private async pause(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new OfflineModelAbortedError();
    if (this.tokenDelayMs <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, this.tokenDelayMs);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new OfflineModelAbortedError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
