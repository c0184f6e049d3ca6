import {
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';

export const APPROVALS_REQUESTED = 'codelab_approvals_requested_total';
export const APPROVALS_DECIDED = 'codelab_approvals_decided_total';
export const APPROVAL_DECISION_TIME = 'codelab_approval_decision_seconds';
export const APPROVALS_PENDING = 'codelab_approvals_pending';

export const approvalMetricProviders = [
  makeCounterProvider({
    name: APPROVALS_REQUESTED,
    help: 'Approvals opened (a run parked for a human), by kind',
    labelNames: ['kind'],
  }),
  makeCounterProvider({
    name: APPROVALS_DECIDED,
    help: 'Approvals decided, by kind, outcome (approved, rejected, expired, cancelled) and actor',
    labelNames: ['kind', 'outcome', 'actor'],
  }),
  makeHistogramProvider({
    name: APPROVAL_DECISION_TIME,
    help: 'From an approval opened to its decision, by kind',
    labelNames: ['kind'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 900, 3600, 86400],
  }),
  makeGaugeProvider({
    name: APPROVALS_PENDING,
    help: 'Approvals waiting for a decision (all projects; refreshed by the deadline sweeper)',
  }),
];
