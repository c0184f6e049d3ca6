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
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import {
  ApiProblemResponses,
  PageQueryDto,
  RequestValidationError,
  UuidParam,
} from '@codelab/platform';
import { type AuthUser, CurrentUser } from '@codelab/auth';
import { CurrentProject, type Project, ProjectAccessGuard } from '@codelab/projects';
import { ArchiveSessionCommand } from '../commands/archive-session/archive-session.command';
import { CancelRunCommand } from '../commands/cancel-run/cancel-run.command';
import { CreateSessionCommand } from '../commands/create-session/create-session.command';
import { SendMessageCommand } from '../commands/send-message/send-message.command';
import { UpdateSessionCommand } from '../commands/update-session/update-session.command';
import { toRunDto } from '../dto/mappers';
import {
  CreateSessionDto,
  MessagePageDto,
  MessageQueryDto,
  RunDto,
  RunPageDto,
  SendMessageDto,
  SendMessageResponseDto,
  SessionDto,
  SessionPageDto,
  UpdateSessionDto,
} from '../dto/session.dto';
import { GetOwnedSessionQuery } from '../queries/get-owned-session/get-owned-session.query';
import { GetRunQuery } from '../queries/get-run/get-run.query';
import { ListMessagesQuery } from '../queries/list-messages/list-messages.query';
import { ListRunsQuery } from '../queries/list-runs/list-runs.query';
import { ListSessionsQuery } from '../queries/list-sessions/list-sessions.query';

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,255}$/;

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
        new CreateSessionCommand(project.id, user.id, body.title, body.agent),
      ),
    );
  }

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

  @Post(':sessionId/messages')
  @HttpCode(202)
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Same key + same body: same answer, nothing new created',
  })
  @ApiAcceptedResponse({ type: SendMessageResponseDto, description: 'Stored; the run is queued' })
  @ApiProblemResponses(409, 413, 422)
  async send(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @Body() body: SendMessageDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<SendMessageResponseDto> {
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new RequestValidationError([
        { field: 'Idempotency-Key', messages: ['must be 1-255 characters of [A-Za-z0-9._:-]'] },
      ]);
    }
    return this.commands.execute(
      new SendMessageCommand(
        project.id,
        sessionId,
        user.id,
        body.content,
        body.target_agent,
        idempotencyKey,
      ),
    );
  }

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

  @Get(':sessionId/runs/:runId')
  @ApiOkResponse({ type: RunDto })
  async run(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @UuidParam('runId') runId: string,
  ): Promise<RunDto> {
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    return toRunDto(await this.queries.execute(new GetRunQuery(sessionId, runId, user.id)));
  }

  @Post(':sessionId/runs/:runId/cancel')
  @HttpCode(202)
  @ApiAcceptedResponse({
    type: RunDto,
    description: 'Queued runs are cancelled at once; running ones stop within about a second',
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
