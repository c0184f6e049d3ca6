import { makeCounterProvider } from '@willsoto/nestjs-prometheus';

export const MESSAGES_ACCEPTED = 'codelab_messages_accepted_total';

export const sessionMetricProviders = [
  makeCounterProvider({
    name: MESSAGES_ACCEPTED,
    help: 'User messages accepted (202), by on_busy',
    labelNames: ['on_busy'],
  }),
];
