import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BaseLanguageModelInput } from '@langchain/core/language_models/base';
import { AIMessageChunk } from '@langchain/core/messages';
import type { Runnable, RunnableConfig } from '@langchain/core/runnables';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import CircuitBreaker from 'opossum';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { classifyLlmError, LlmError } from '../llm.errors';
import {
  LLM_ATTEMPTS,
  LLM_CIRCUIT_STATE,
  LLM_ERRORS,
  LLM_REQUEST_DURATION,
  LLM_TOKENS,
} from '../llm.metrics';

export type ChatRunnable = Runnable<BaseLanguageModelInput, AIMessageChunk, RunnableConfig>;

export interface ModelTarget {
  /** Metric label: offline | openai. */
  provider: string;
  /** One circuit breaker per endpoint (provider + base URL). */
  endpoint: string;
}

export interface ModelCallOptions {
  signal?: AbortSignal;
  /** Receives each text delta as it streams. */
  onToken?: (text: string) => void;
}

export interface ModelCallResult {
  message: AIMessageChunk;
  attempts: number;
}

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

const abortableSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException('Aborted', 'AbortError'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new DOMException('Aborted', 'AbortError'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Thrown inside an attempt when the idle timer fires, to tell it apart from a caller's abort. */
class AttemptTimeout extends Error {
  constructor(ms: number) {
    super(`No response from the model for ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * The one way CodeLab calls a model. Per call: up to LLM_MAX_ATTEMPTS attempts in total (the
 * provider clients are built with their own retries off, so this cap holds across layers), an
 * idle timeout per attempt (no first token, or no next token, within LLM_TIMEOUT_MS), exponential
 * backoff with jitter between attempts (Retry-After honoured, capped), retries only on retryable
 * errors and only before any token was streamed (a half-streamed answer cannot be replayed), and
 * a circuit breaker (opossum) per endpoint that fails fast while the provider is down.
 */
@Injectable()
export class ModelCaller {
  private readonly logger = new Logger(ModelCaller.name);
  private readonly breakers = new Map<
    string,
    CircuitBreaker<[() => Promise<ModelCallResult>], ModelCallResult>
  >();
  private sleep: Sleep = abortableSleep;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(LLM_REQUEST_DURATION) private readonly duration: Histogram<string>,
    @InjectMetric(LLM_TOKENS) private readonly tokens: Counter<string>,
    @InjectMetric(LLM_ERRORS) private readonly errors: Counter<string>,
    @InjectMetric(LLM_ATTEMPTS) private readonly attemptsCounter: Counter<string>,
    @InjectMetric(LLM_CIRCUIT_STATE) private readonly circuitState: Gauge<string>,
  ) {}

  /** For tests: observe or shorten backoff without wall-clock waits. */
  setSleep(sleep: Sleep): void {
    this.sleep = sleep;
  }

  breakerState(endpoint: string): 'closed' | 'open' | 'half_open' {
    const breaker = this.breakers.get(endpoint);
    if (!breaker || breaker.closed) return 'closed';
    return breaker.halfOpen ? 'half_open' : 'open';
  }

  async call(
    model: ChatRunnable,
    input: BaseLanguageModelInput,
    target: ModelTarget,
    options: ModelCallOptions = {},
  ): Promise<ModelCallResult> {
    const { maxAttempts, retryBaseDelayMs, retryMaxDelayMs } = this.config.llm;
    const breaker = this.breakerFor(target);
    const stopTimer = this.duration.startTimer({ provider: target.provider });
    let attempt = 0;
    for (;;) {
      attempt++;
      let streamed = false;
      try {
        this.attemptsCounter.inc({ provider: target.provider });
        const result = await breaker.fire(() =>
          this.attemptOnce(model, input, options, attempt, () => {
            streamed = true;
          }),
        );
        stopTimer({ outcome: 'success' });
        this.countUsage(target.provider, result.message);
        return result;
      } catch (raw) {
        const error = this.toLlmError(raw, attempt, options.signal);
        this.errors.inc({ provider: target.provider, kind: error.llmKind });
        const canRetry =
          error.retryable && !streamed && attempt < maxAttempts && !options.signal?.aborted;
        if (!canRetry) {
          stopTimer({ outcome: error.llmKind });
          throw error;
        }
        const backoff = Math.min(retryMaxDelayMs, retryBaseDelayMs * 2 ** (attempt - 1));
        const jittered = backoff / 2 + Math.random() * (backoff / 2);
        const delay =
          error.retryAfterMs !== undefined
            ? Math.min(retryMaxDelayMs, error.retryAfterMs)
            : jittered;
        this.logger.warn(
          `Model attempt ${attempt}/${maxAttempts} failed (${error.llmKind}); retrying in ${Math.round(delay)} ms`,
        );
        try {
          await this.sleep(delay, options.signal);
        } catch {
          stopTimer({ outcome: 'aborted' });
          throw new LlmError('aborted', 'The model call was cancelled', false, attempt);
        }
      }
    }
  }

  private async attemptOnce(
    model: ChatRunnable,
    input: BaseLanguageModelInput,
    options: ModelCallOptions,
    attempt: number,
    onFirstToken: () => void,
  ): Promise<ModelCallResult> {
    const idleMs = this.config.llm.timeoutMs;
    const controller = new AbortController();
    const abortFromCaller = () => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', abortFromCaller, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const armIdleTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new AttemptTimeout(idleMs));
      }, idleMs);
    };
    try {
      armIdleTimer();
      if (options.signal?.aborted) throw new DOMException('Aborted', 'AbortError');
      const stream = await model.stream(input, { signal: controller.signal });
      let message: AIMessageChunk | undefined;
      for await (const chunk of stream) {
        armIdleTimer();
        message = message ? message.concat(chunk) : chunk;
        const text = typeof chunk.content === 'string' ? chunk.content : '';
        if (text) {
          onFirstToken();
          options.onToken?.(text);
        }
      }
      if (!message) throw new SyntaxError('The model stream ended without a message');
      return { message, attempts: attempt };
    } catch (error) {
      if (timedOut)
        throw new LlmError(
          'timeout',
          `No response from the model within ${idleMs} ms`,
          true,
          attempt,
          undefined,
          undefined,
          { cause: error },
        );
      throw error;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', abortFromCaller);
    }
  }

  private toLlmError(raw: unknown, attempt: number, signal?: AbortSignal): LlmError {
    if (signal?.aborted)
      return new LlmError(
        'aborted',
        'The model call was cancelled',
        false,
        attempt,
        undefined,
        undefined,
        { cause: raw },
      );
    if ((raw as { code?: string })?.code === 'EOPENBREAKER') {
      return new LlmError(
        'circuit_open',
        'The model provider is failing; calls are paused for a while',
        false,
        attempt,
        undefined,
        undefined,
        { cause: raw },
      );
    }
    return classifyLlmError(raw, attempt).withAttempts(attempt);
  }

  private breakerFor(target: ModelTarget) {
    let breaker = this.breakers.get(target.endpoint);
    if (breaker) return breaker;
    const { breakerVolumeThreshold, breakerErrorPercent, breakerResetMs } = this.config.llm;
    breaker = new CircuitBreaker((work: () => Promise<ModelCallResult>) => work(), {
      // Timeouts are enforced per attempt above, where the stream can be aborted.
      timeout: false,
      errorThresholdPercentage: breakerErrorPercent,
      volumeThreshold: breakerVolumeThreshold,
      resetTimeout: breakerResetMs,
      rollingCountTimeout: Math.max(10_000, breakerResetMs * 2),
      // Our own mistakes (400/401) and cancellations say nothing about the provider's health.
      errorFilter: (error: unknown) => {
        const e = classifyLlmError(error, 0);
        return e.llmKind === 'bad_request' || e.llmKind === 'auth' || e.llmKind === 'aborted';
      },
    });
    const state = (value: number, name: string) => () => {
      this.circuitState.set({ provider: target.provider }, value);
      this.logger.warn(`Circuit for ${target.provider} model endpoint is ${name}`);
    };
    breaker.on('open', state(2, 'open'));
    breaker.on('halfOpen', state(1, 'half-open'));
    breaker.on('close', state(0, 'closed'));
    this.circuitState.set({ provider: target.provider }, 0);
    this.breakers.set(target.endpoint, breaker);
    return breaker;
  }

  private countUsage(provider: string, message: AIMessageChunk): void {
    const usage = message.usage_metadata;
    if (!usage) return;
    this.tokens.inc({ provider, direction: 'input' }, usage.input_tokens);
    this.tokens.inc({ provider, direction: 'output' }, usage.output_tokens);
  }

  /** Timers of open breakers would keep the process alive. */
  onApplicationShutdown(): void {
    for (const breaker of this.breakers.values()) breaker.shutdown();
  }
}
