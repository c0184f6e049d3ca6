import { makeCounterProvider } from '@willsoto/nestjs-prometheus';

export const AGENT_SWITCHES = 'codelab_agent_switches_total';
export const DELEGATIONS = 'codelab_delegations_total';
export const DELEGATION_RESULTS_INVALID = 'codelab_delegation_results_invalid_total';

export const handoffMetricProviders = [
  makeCounterProvider({
    name: AGENT_SWITCHES,
    help: 'Agent switches applied, by reason (tool: an agent called switch_agent; user) and outcome',
    labelNames: ['reason', 'outcome'],
  }),
  makeCounterProvider({
    name: DELEGATIONS,
    help: 'Delegated tasks by outcome (started, completed, failed, cancelled, expired, refused)',
    labelNames: ['outcome'],
  }),
  makeCounterProvider({
    name: DELEGATION_RESULTS_INVALID,
    help: "Delegated results that did not match the delegator's `returns` schema, by attempt (first, repair)",
    labelNames: ['attempt'],
  }),
];
