import { randomUUID } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  ApiProblemResponses,
  PageQueryDto,
  ResourceNotFoundError,
  UuidParam,
} from '@codelab/platform';
import { type AuthUser, CurrentUser } from '@codelab/auth';
import { CurrentProject, type Project, ProjectAccessGuard } from '@codelab/projects';
import { GetOwnedSessionQuery } from '@codelab/sessions';
import { SwitchAgentCommand } from '../commands/switch-agent/switch-agent.command';
import {
  AgentSwitchDto,
  AgentSwitchPageDto,
  SetActiveAgentDto,
  toAgentSwitchDto,
} from '../dto/agent-switch.dto';
import { SwitchReason } from '../entities/agent-switch.entity';
import { SessionArchivedError, UnknownAgentError } from '../handoffs.errors';
import { ListAgentSwitchesQuery } from '../queries/list-agent-switches/list-agent-switches.query';

@ApiTags('sessions')
@ApiBearerAuth('bearer')
@ApiProblemResponses(400, 401, 404, 429)
@UseGuards(ProjectAccessGuard)
@Controller('v1/my/projects/:projectId/sessions/:sessionId')
export class AgentSwitchesController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  @ApiOperation({ summary: "Choose the session's agent" })
  @Post('active-agent')
  @HttpCode(200)
  @ApiProblemResponses(409, 422)
  @ApiOkResponse({
    type: AgentSwitchDto,
    description:
      "The agent now answers this conversation's next messages (recorded with reason `user`). `target_agent` on a message still calls an agent directly, once.",
  })
  async setActiveAgent(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @Body() body: SetActiveAgentDto,
  ): Promise<AgentSwitchDto> {
    // 404 for a session that is not the user's, before anything else is looked at.
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    const outcome = await this.commands.execute(
      new SwitchAgentCommand({
        sessionId,
        projectId: project.id,
        ownerId: user.id,
        agent: body.agent,
        reason: SwitchReason.User,
        explanation: body.explanation ?? null,
        eventId: randomUUID(),
      }),
    );
    if (outcome.kind === 'switched') return toAgentSwitchDto(outcome.agentSwitch);
    if (outcome.code === 'UNKNOWN_AGENT') throw new UnknownAgentError(body.agent);
    if (outcome.code === 'SESSION_ARCHIVED') throw new SessionArchivedError();
    throw new ResourceNotFoundError('Session');
  }

  @ApiOperation({ summary: "List the session's agent switches" })
  @Get('agent-switches')
  @ApiOkResponse({ type: AgentSwitchPageDto, description: 'Newest first' })
  async list(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @Query() query: PageQueryDto,
  ): Promise<AgentSwitchPageDto> {
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    const page = await this.queries.execute(
      new ListAgentSwitchesQuery(project.id, sessionId, user.id, query.limit, query.cursor),
    );
    return { items: page.items.map(toAgentSwitchDto), next_cursor: page.nextCursor };
  }
}
