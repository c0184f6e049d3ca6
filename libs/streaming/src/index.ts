export { StreamingModule } from './streaming.module';
export { StreamingHttpModule } from './http/streaming-http.module';
export { SessionStreamHub } from './session-stream-hub';
export {
  compareStreamIds,
  type Envelope,
  SessionEventLog,
  type StreamEntry,
} from './session-event-log';
