import { Logger } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ThrottledLog } from '@codelab/platform';
import { SessionEvent } from './session-event';
import { SessionEventLog } from '../session-event-log';
import { STREAM_EVENTS_APPENDED } from '../streaming.metrics';

/**
 * Every session event published in this process goes to the session's Redis Stream. Events are
 * for streaming only: losing one (Redis down) loses a live update, never data — clients resync
 * over REST.
 */
@EventsHandler(SessionEvent)
export class AppendSessionEventsHandler implements IEventHandler<SessionEvent> {
  // While Redis is down every event fails; one line per interval says so.
  private readonly throttled = new ThrottledLog(new Logger(AppendSessionEventsHandler.name));

  constructor(
    private readonly log: SessionEventLog,
    @InjectMetric(STREAM_EVENTS_APPENDED) private readonly appended: Counter<string>,
  ) {}

  async handle(event: SessionEvent): Promise<void> {
    try {
      await this.log.append({
        type: event.type,
        session_id: event.sessionId,
        run_id: event.runId,
        agent_id: event.agentId,
        ts: event.ts,
        payload: event.payload,
      });
      this.appended.inc({ type: event.type });
    } catch (error) {
      this.throttled.warn(
        'append',
        `Could not append ${event.type} for session ${event.sessionId}: ${(error as Error).message}`,
      );
    }
  }
}
