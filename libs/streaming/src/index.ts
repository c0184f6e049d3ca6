export { StreamingModule, StreamReaderModule } from './streaming.module';
export { SessionStreamHub } from './session-stream-hub';
export { SseClient } from './sse-client';
export { SessionEvent, type SessionEventType } from './events/session-event';
export {
  compareStreamIds,
  type Envelope,
  SessionEventLog,
  type StreamEntry,
} from './session-event-log';
export { SSE_DELIVERY_LAG, SSE_RESYNCS } from './streaming.metrics';
