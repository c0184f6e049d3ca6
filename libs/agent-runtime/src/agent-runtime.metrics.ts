import { makeCounterProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';

export const MEMORY_UNAVAILABLE = 'codelab_memory_unavailable_total';
export const AGENT_STEP_TIME = 'codelab_run_step_duration_seconds';
export const TOOL_CALLS = 'codelab_tool_calls_total';
export const TOOL_DURATION = 'codelab_tool_duration_seconds';

export const agentRuntimeMetricProviders = [
  makeCounterProvider({
    name: MEMORY_UNAVAILABLE,
    help: 'Runs that went on without memory because recall or storage failed, by operation and failing component',
    labelNames: ['operation', 'component'],
  }),
  makeHistogramProvider({
    name: AGENT_STEP_TIME,
    help: 'Duration of a run step (model turn or tool call, journal writes included), by kind',
    labelNames: ['kind'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  }),
  makeCounterProvider({
    name: TOOL_CALLS,
    help: 'Tool calls by tool and outcome (succeeded, failed: refused or erred, unknown_outcome)',
    labelNames: ['tool', 'outcome'],
  }),
  makeHistogramProvider({
    name: TOOL_DURATION,
    help: "A tool's own execution time (not the journal), by tool",
    labelNames: ['tool'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  }),
];
