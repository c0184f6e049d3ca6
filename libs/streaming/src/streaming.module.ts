import { Module } from '@nestjs/common';
import { AppendSessionEventsHandler } from './events/append-session-events.handler';
import { SessionEventLog } from './session-event-log';
import { SessionStreamHub } from './session-stream-hub';
import { streamingMetricProviders } from './streaming.metrics';

/** The producer side: session events go to Redis Streams (API and worker processes). */
@Module({
  providers: [SessionEventLog, AppendSessionEventsHandler, ...streamingMetricProviders],
  exports: [SessionEventLog, ...streamingMetricProviders],
})
export class StreamingModule {}

/** The reader side: the process's one shared stream reader for its SSE clients (API only). */
@Module({
  imports: [StreamingModule],
  providers: [SessionStreamHub],
  exports: [SessionStreamHub, StreamingModule],
})
export class StreamReaderModule {}
