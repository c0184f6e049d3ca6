import { makeGaugeProvider } from '@willsoto/nestjs-prometheus';

export const SANDBOX_UNAVAILABLE = 'codelab_sandbox_unavailable';

export const toolsMetricProviders = [
  makeGaugeProvider({
    name: SANDBOX_UNAVAILABLE,
    help: '1 when the command sandbox failed its self-test in this process (run_command is disabled)',
  }),
];
