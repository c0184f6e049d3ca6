import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Patch,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import {
  ApiProblemResponses,
  PageQueryDto,
  ApiIdempotencyKey,
  idempotencyKeyOf,
  UuidParam,
} from '@codelab/platform';
import { type AuthUser, CurrentUser } from '@codelab/auth';
import { CurrentProject, type Project, ProjectAccessGuard } from '@codelab/projects';
import {
  CancelRunCommand,
  GetRunPlanQuery,
  GetRunQuery,
  ListChildRunsQuery,
  RunKind,
  RunDetailDto,
  ListRunsQuery,
  ListRunStepsQuery,
  RunDto,
  RunPageDto,
  RunStepPageDto,
  StepPageQueryDto,
  toRunDto,
  toRunStepDto,
} from '@codelab/runs';
import { ArchiveSessionCommand } from '../commands/archive-session/archive-session.command';
import { CreateSessionCommand } from '../commands/create-session/create-session.command';
import { SendMessageCommand } from '../commands/send-message/send-message.command';
import { UpdateSessionCommand } from '../commands/update-session/update-session.command';
import {
  CreateSessionDto,
  MessagePageDto,
  MessageQueryDto,
  SendMessageDto,
  SendMessageResponseDto,
  SessionDto,
  SessionPageDto,
  UpdateSessionDto,
} from '../dto/session.dto';
import { GetOwnedSessionQuery } from '../queries/get-owned-session/get-owned-session.query';
import { ListMessagesQuery } from '../queries/list-messages/list-messages.query';
import { ListSessionsQuery } from '../queries/list-sessions/list-sessions.query';

@ApiTags('sessions')
@ApiBearerAuth('bearer')
@ApiProblemResponses(400, 401, 404, 429)
@UseGuards(ProjectAccessGuard)
@Controller('v1/my/projects/:projectId/sessions')
export class SessionsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  @ApiOperation({ summary: "List a project's sessions" })
  @Get()
  @ApiOkResponse({
    type: SessionPageDto,
    description: 'Newest first; archived sessions are left out',
  })
  async list(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @Query() page: PageQueryDto,
  ): Promise<SessionPageDto> {
    const result = await this.queries.execute(
      new ListSessionsQuery(project.id, user.id, page.limit, page.cursor),
    );
    return { items: result.items.map(SessionDto.from), next_cursor: result.nextCursor };
  }

  @ApiOperation({ summary: 'Start a session' })
  @Post()
  @ApiCreatedResponse({ type: SessionDto })
  @ApiProblemResponses(413, 422)
  async create(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @Body() body: CreateSessionDto,
  ): Promise<SessionDto> {
    return SessionDto.from(
      await this.commands.execute(
        new CreateSessionCommand(project.id, user.id, body.title, body.agent, body.mode),
      ),
    );
  }

  @ApiOperation({ summary: 'Get a session' })
  @Get(':sessionId')
  @ApiOkResponse({ type: SessionDto })
  async get(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
  ): Promise<SessionDto> {
    return SessionDto.from(
      await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id)),
    );
  }

  @ApiOperation({ summary: 'Rename a session' })
  @Patch(':sessionId')
  @ApiOkResponse({ type: SessionDto })
  async update(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @Body() body: UpdateSessionDto,
  ): Promise<SessionDto> {
    return SessionDto.from(
      await this.commands.execute(
        new UpdateSessionCommand(project.id, sessionId, user.id, body.title),
      ),
    );
  }

  @ApiOperation({ summary: 'Archive a session' })
  @Delete(':sessionId')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Archived: history stays readable, new messages get 409' })
  async archive(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
  ): Promise<void> {
    await this.commands.execute(new ArchiveSessionCommand(project.id, sessionId, user.id));
  }

  @ApiOperation({ summary: "List a session's messages" })
  @Get(':sessionId/messages')
  @ApiOkResponse({
    type: MessagePageDto,
    description: 'Keyset pages by seq: no params = the newest page',
  })
  async messages(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @Query() query: MessageQueryDto,
  ): Promise<MessagePageDto> {
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    const page = await this.queries.execute(
      new ListMessagesQuery(sessionId, query.limit, query.before, query.after),
    );
    return { items: page.items, has_more: page.hasMore };
  }

  @ApiOperation({ summary: 'Send a message (starts a run)' })
  @Post(':sessionId/messages')
  @HttpCode(202)
  @ApiIdempotencyKey('Same key + same body: same answer, nothing new created')
  @ApiAcceptedResponse({
    type: SendMessageResponseDto,
    description:
      'Stored; the run is queued in the conversation lane and starts when the runs before it have finished (see on_busy)',
  })
  @ApiProblemResponses(409, 413, 422)
  async send(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @Body() body: SendMessageDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<SendMessageResponseDto> {
    return this.commands.execute(
      new SendMessageCommand(
        project.id,
        sessionId,
        user.id,
        body.content,
        body.target_agent,
        idempotencyKeyOf(idempotencyKey),
        body.on_busy,
      ),
    );
  }

  @ApiOperation({ summary: "List a session's runs" })
  @Get(':sessionId/runs')
  @ApiOkResponse({ type: RunPageDto, description: 'Newest first' })
  async runs(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @Query() page: PageQueryDto,
  ): Promise<RunPageDto> {
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    const result = await this.queries.execute(
      new ListRunsQuery(sessionId, user.id, page.limit, page.cursor),
    );
    return { items: result.items.map(toRunDto), next_cursor: result.nextCursor };
  }

  @ApiOperation({ summary: 'Get a run with its children and plan' })
  @Get(':sessionId/runs/:runId')
  @ApiOkResponse({ type: RunDetailDto })
  async run(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @UuidParam('runId') runId: string,
  ): Promise<RunDetailDto> {
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    const run = await this.queries.execute(new GetRunQuery(sessionId, runId, user.id));
    // The run is the user's (checked above): its children are too.
    const [children, plan] = await Promise.all([
      this.queries.execute(new ListChildRunsQuery(run.id)),
      run.kind === RunKind.Orchestration
        ? this.queries.execute(new GetRunPlanQuery(run.id, user.id))
        : null,
    ]);
    return { ...toRunDto(run), children: children.map(toRunDto), plan };
  }

  @ApiOperation({ summary: "List a run's steps (its journal)" })
  @Get(':sessionId/runs/:runId/steps')
  @ApiOkResponse({
    type: RunStepPageDto,
    description:
      "The run's journal as its trace: each model turn and tool call with status, timings, token usage and bounded result",
  })
  async steps(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @UuidParam('runId') runId: string,
    @Query() page: StepPageQueryDto,
  ): Promise<RunStepPageDto> {
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    const result = await this.queries.execute(
      new ListRunStepsQuery(sessionId, runId, user.id, page.limit, page.after ?? 0),
    );
    return { items: result.items.map(toRunStepDto), next_after: result.nextAfter };
  }

  @ApiOperation({ summary: 'Cancel a run' })
  @Post(':sessionId/runs/:runId/cancel')
  @HttpCode(202)
  @ApiAcceptedResponse({
    type: RunDto,
    description:
      'Queued and parked runs are cancelled at once; running ones stop within about a second',
  })
  @ApiProblemResponses(409)
  async cancel(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @UuidParam('runId') runId: string,
  ): Promise<RunDto> {
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    return toRunDto(await this.commands.execute(new CancelRunCommand(sessionId, runId, user.id)));
  }
}
