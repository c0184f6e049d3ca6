import {
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';

export const RUNS_FINISHED = 'codelab_runs_finished_total';
export const RUN_DURATION = 'codelab_run_duration_seconds';
export const RUN_QUEUE_WAIT = 'codelab_run_queue_wait_seconds';
export const RUN_QUEUE_DEPTH = 'codelab_run_queue_depth';
export const RUNS_ACTIVE = 'codelab_runs_active';
export const RUN_SLOT_WAITS = 'codelab_run_slot_waits_total';
export const RUNS_DEAD_LETTERED = 'codelab_runs_dead_lettered_total';
export const RUN_RETRIES = 'codelab_run_retries_total';
export const RUNS_FENCED = 'codelab_runs_fenced_total';
export const RELAY_LEADER = 'codelab_run_relay_leader';

export const runMetricProviders = [
  makeCounterProvider({
    name: RUNS_FINISHED,
    help: 'Runs that reached a final status, by status',
    labelNames: ['status'],
  }),
  makeHistogramProvider({
    name: RUN_DURATION,
    help: 'Run execution time (first start to finish) in seconds, by final status',
    labelNames: ['status'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  }),
  makeHistogramProvider({
    name: RUN_QUEUE_WAIT,
    help: 'Time from accepting a message to its run starting, in seconds',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  }),
  makeGaugeProvider({
    name: RUN_QUEUE_DEPTH,
    help: 'Jobs in the runs queue by state',
    labelNames: ['state'],
  }),
  makeGaugeProvider({ name: RUNS_ACTIVE, help: 'Runs executing in this process' }),
  makeCounterProvider({
    name: RUN_SLOT_WAITS,
    help: 'Times a run had to wait for a slot, by reason (agent limit, busy elsewhere)',
    labelNames: ['reason'],
  }),
  makeCounterProvider({
    name: RUNS_DEAD_LETTERED,
    help: 'Run jobs moved to the failed (dead-letter) set',
  }),
  makeCounterProvider({
    name: RUN_RETRIES,
    help: 'Run executions put back for a later retry because a dependency was down, by dependency',
    labelNames: ['dependency'],
  }),
  makeCounterProvider({
    name: RUNS_FENCED,
    help: 'Executions that stopped because their lease was taken over (a paused or partitioned worker)',
  }),
  makeGaugeProvider({
    name: RELAY_LEADER,
    help: '1 when this process is the elected relay, else 0',
  }),
];
