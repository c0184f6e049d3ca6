import { Module } from '@nestjs/common';
import { AppendSessionEventsHandler } from './events/append-session-events.handler';
import { SessionEventLog } from './session-event-log';
import { streamingMetricProviders } from './streaming.metrics';

/** The producer side: session events go to Redis Streams (API and worker processes). */
@Module({
  providers: [SessionEventLog, AppendSessionEventsHandler, ...streamingMetricProviders],
  exports: [SessionEventLog, ...streamingMetricProviders],
})
export class StreamingModule {}
