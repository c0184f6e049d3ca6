import { makeCounterProvider } from '@willsoto/nestjs-prometheus';

export const AUTH_EVENTS = 'codelab_auth_events_total';

export type AuthAction = 'register' | 'login' | 'refresh' | 'logout' | 'access';
export type AuthOutcome = 'success' | 'failure' | 'reuse_detected';

export const authMetricProviders = [
  makeCounterProvider({
    name: AUTH_EVENTS,
    help: 'Authentication attempts by action and outcome',
    labelNames: ['action', 'outcome'],
  }),
];
