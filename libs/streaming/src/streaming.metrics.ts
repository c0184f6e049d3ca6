import {
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';

export const SSE_CLIENTS = 'codelab_sse_clients';
export const STREAM_EVENTS_APPENDED = 'codelab_stream_events_appended_total';
export const SSE_DELIVERY_LAG = 'codelab_sse_delivery_lag_seconds';
export const SSE_RESYNCS = 'codelab_sse_resyncs_total';

export const streamingMetricProviders = [
  makeGaugeProvider({ name: SSE_CLIENTS, help: 'Connected SSE clients in this process' }),
  makeCounterProvider({
    name: STREAM_EVENTS_APPENDED,
    help: 'Session events appended to Redis Streams, by type',
    labelNames: ['type'],
  }),
  makeHistogramProvider({
    name: SSE_DELIVERY_LAG,
    help: 'Time from appending an event to writing it to a client socket, in seconds',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  }),
  makeCounterProvider({
    name: SSE_RESYNCS,
    help: 'resync events sent (trimmed/expired position or slow client)',
    labelNames: ['reason'],
  }),
];
