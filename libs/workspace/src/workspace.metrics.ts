import { makeCounterProvider } from '@willsoto/nestjs-prometheus';

export const WORKSPACE_WRITES = 'codelab_workspace_changes_total';

export const workspaceMetricProviders = [
  makeCounterProvider({
    name: WORKSPACE_WRITES,
    help: 'Changes applied to project workspaces (REST and agent tools), by operation',
    labelNames: ['op'],
  }),
];
