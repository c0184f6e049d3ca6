import { makeCounterProvider } from '@willsoto/nestjs-prometheus';

export const DOMAIN_EVENTS_HANDLED = 'codelab_domain_events_handled_total';

export const domainEventMetricProviders = [
  makeCounterProvider({
    name: DOMAIN_EVENTS_HANDLED,
    help: 'Domain events handled, by handler and outcome (applied, duplicate: already applied)',
    labelNames: ['handler', 'outcome'],
  }),
];
