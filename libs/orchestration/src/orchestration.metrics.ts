import { makeCounterProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import { orchestrationMetricNames as names } from './orchestration.events';

export const orchestrationMetricProviders = [
  makeCounterProvider({
    name: names.plans,
    help: 'Orchestrated requests by outcome (routed, completed, failed, cancelled, invalid)',
    labelNames: ['outcome'],
  }),
  makeCounterProvider({
    name: names.tasks,
    help: 'Plan tasks by outcome (started, completed, failed, skipped)',
    labelNames: ['outcome'],
  }),
  makeHistogramProvider({
    name: names.taskStart,
    help: "Time from a task's last dependency finishing to the task's start",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
  }),
  makeHistogramProvider({
    name: names.width,
    help: 'Tasks per plan',
    buckets: [1, 2, 3, 4, 6, 8, 12, 16, 20],
  }),
];
