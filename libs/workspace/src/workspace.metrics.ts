import { makeCounterProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';

export const WORKSPACE_WRITES = 'codelab_workspace_changes_total';
export const WORKSPACE_BYTES = 'codelab_workspace_usage_bytes';

export const workspaceMetricProviders = [
  makeCounterProvider({
    name: WORKSPACE_WRITES,
    help: 'Changes applied to project workspaces (REST and agent tools), by operation',
    labelNames: ['op'],
  }),
  makeHistogramProvider({
    name: WORKSPACE_BYTES,
    help: 'Size of a workspace (all its files) as measured by each write, for quota planning',
    buckets: [1e3, 1e4, 1e5, 1e6, 1e7, 2.5e7, 5e7, 1e8, 2.5e8, 1e9],
  }),
];
