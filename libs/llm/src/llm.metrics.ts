import {
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';

export const LLM_REQUEST_DURATION = 'codelab_llm_request_duration_seconds';
export const LLM_TOKENS = 'codelab_llm_tokens_total';
export const LLM_ERRORS = 'codelab_llm_errors_total';
export const LLM_ATTEMPTS = 'codelab_llm_attempts_total';
export const LLM_CIRCUIT_STATE = 'codelab_llm_circuit_state';

export const llmMetricProviders = [
  makeHistogramProvider({
    name: LLM_REQUEST_DURATION,
    help: 'Model call duration (all attempts) in seconds, by provider and outcome',
    labelNames: ['provider', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  }),
  makeCounterProvider({
    name: LLM_TOKENS,
    help: 'Model tokens by provider and direction (input/output)',
    labelNames: ['provider', 'direction'],
  }),
  makeCounterProvider({
    name: LLM_ERRORS,
    help: 'Failed model attempts by provider and error kind',
    labelNames: ['provider', 'kind'],
  }),
  makeCounterProvider({
    name: LLM_ATTEMPTS,
    help: 'Model call attempts by provider (retries included)',
    labelNames: ['provider'],
  }),
  makeGaugeProvider({
    name: LLM_CIRCUIT_STATE,
    help: 'Circuit breaker state per provider: 0 closed, 1 half-open, 2 open',
    labelNames: ['provider'],
  }),
];
