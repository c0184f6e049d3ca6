import {
  Controller,
  Get,
  Headers,
  HttpCode,
  Inject,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import {
  ApiBearerAuth,
  ApiOkResponse,
  ApiHeader,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import type { Request, Response } from 'express';
import type { Counter, Histogram } from 'prom-client';
import { APP_CONFIG, type AppConfig, ApiProblemResponses, UuidParam } from '@codelab/platform';
import { AcceptsStreamToken, type AuthUser, CurrentUser, StreamTokenService } from '@codelab/auth';
import { CurrentProject, type Project, ProjectAccessGuard } from '@codelab/projects';
import {
  SessionEventLog,
  SessionStreamHub,
  SSE_DELIVERY_LAG,
  SSE_RESYNCS,
  SseClient,
  type StreamEntry,
} from '@codelab/streaming';
import { GetOwnedSessionQuery } from '../queries/get-owned-session/get-owned-session.query';

export class EventsQueryDto {
  @ApiPropertyOptional({
    description: 'Resume after this event id (same as the Last-Event-ID header)',
    example: '1795306483949-0',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  last_event_id?: string;

  @ApiPropertyOptional({ enum: ['start'], description: 'Replay the whole retained buffer first' })
  @IsOptional()
  @IsIn(['start'])
  from?: 'start';

  @ApiPropertyOptional({
    description:
      'For EventSource: a token from POST .../stream-token instead of the Authorization header',
  })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  stream_token?: string;
}

export class StreamTokenDto {
  @ApiProperty({
    example: 'eyJhbGciOiJIUzI1NiIs...',
    description: 'Valid only on this session’s events route',
  })
  stream_token!: string;
  @ApiProperty({ format: 'date-time', example: '2026-11-21T12:01:00.000Z' })
  expires_at!: string;
}

@ApiTags('streaming')
@ApiBearerAuth('bearer')
@ApiProblemResponses(400, 401, 404)
@Controller('v1/my/projects/:projectId/sessions/:sessionId')
export class SessionEventsController {
  constructor(
    private readonly queries: QueryBus,
    private readonly tokens: StreamTokenService,
    private readonly log: SessionEventLog,
    private readonly hub: SessionStreamHub,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(SSE_DELIVERY_LAG) private readonly lag: Histogram<string>,
    @InjectMetric(SSE_RESYNCS) private readonly resyncs: Counter<string>,
  ) {}

  @ApiOperation({ summary: 'Get a short-lived token for EventSource' })
  @Post('stream-token')
  @ApiProblemResponses(429)
  @HttpCode(200)
  @UseGuards(ProjectAccessGuard)
  @ApiOkResponse({
    type: StreamTokenDto,
    description: 'A token for EventSource, scoped to you and this session, valid 60 s',
  })
  async streamToken(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
  ): Promise<StreamTokenDto> {
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    const { token, expiresAt } = this.tokens.issue(user.id, sessionId);
    return { stream_token: token, expires_at: expiresAt.toISOString() };
  }

  /**
   * Server-Sent Events of the session. Frames: `id` (Redis Stream id), `event` (type), `data`
   * (JSON envelope). Reconnect with Last-Event-ID to get exactly what was missed; `resync` means
   * that point is gone and the client should reload over REST.
   */
  @ApiOperation({ summary: "Follow a session's events (Server-Sent Events)" })
  @Get('events')
  @AcceptsStreamToken()
  @SkipThrottle()
  @UseGuards(ProjectAccessGuard)
  // Either credential opens the stream (bearer comes from the class): EventSource cannot send
  // an Authorization header.
  @ApiSecurity('stream_token')
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description: 'Resume after this event id (sent by EventSource when it reconnects)',
  })
  @ApiOkResponse({
    description:
      'Server-Sent Events: `id` (resume point), `event` (type) and `data` (a JSON envelope) per ' +
      'frame; `resync` means the resume point is gone (reload over REST). Types in the README.',
    content: {
      'text/event-stream': {
        schema: {
          type: 'string',
          example: 'id: 1795306483949-0\nevent: run_started\ndata: {...}\n\n',
        },
      },
    },
  })
  async events(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @Query() query: EventsQueryDto,
    @Headers('last-event-id') lastEventIdHeader: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    // Ownership is settled before the first byte: another user's session is a plain 404.
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    const lastEventId = lastEventIdHeader ?? query.last_event_id;

    // Callbacks run only after both constants exist.
    const client: SseClient = new SseClient(sessionId, res, {
      bufferLimitBytes: this.config.streaming.clientBufferBytes,
      onLag: (s) => this.lag.observe(s),
      onOverflow: () => {
        this.resyncs.inc({ reason: 'slow_client' });
        client.resync('0-0', 'slow_client');
        closeClient();
      },
    });
    const closeClient = () => {
      this.hub.unsubscribe(client);
      client.close();
    };
    req.on('close', closeClient);
    // Subscribed before the first byte: an event appended once the client sees the stream open
    // (a message it posts right away) is delivered, never lost between the two. A failure here is
    // still a problem+json answer.
    try {
      await this.hub.subscribe(client);
    } catch (error) {
      this.hub.unsubscribe(client);
      throw error;
    }
    // The client may have gone while we subscribed: its close handler already ran.
    if (client.closed) {
      this.hub.unsubscribe(client);
      return;
    }
    client.start(this.config.streaming.retryMs);
    try {
      let replay: StreamEntry[] = [];
      if (lastEventId !== undefined) {
        if (await this.log.canResumeFrom(sessionId, lastEventId)) {
          replay = await this.log.after(sessionId, lastEventId);
        } else {
          this.resyncs.inc({ reason: 'trimmed' });
          client.resync(await this.log.lastId(sessionId), 'trimmed');
        }
      } else if (query.from === 'start') {
        replay = await this.log.all(sessionId);
      }
      client.finishCatchUp(replay);
      if (client.closed) this.hub.unsubscribe(client);
    } catch {
      closeClient();
    }
  }
}
