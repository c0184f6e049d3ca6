import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Patch,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiProblemResponses, PageQueryDto, Public, UuidParam } from '@codelab/platform';
import { type AuthUser, CurrentUser } from '@codelab/auth';
import { CurrentProject, type Project, ProjectAccessGuard } from '@codelab/projects';
import { type AgentInput } from '../agent-defaults';
import { CreateAgentCommand } from '../commands/create-agent/create-agent.command';
import { DeleteAgentCommand } from '../commands/delete-agent/delete-agent.command';
import { UpdateAgentCommand } from '../commands/update-agent/update-agent.command';
import {
  AgentDto,
  AgentPageDto,
  CreateAgentDto,
  RoleTemplateDto,
  toAgentInput,
  UpdateAgentDto,
} from '../dto/agent.dto';
import { type Agent } from '../entities/agent.entity';
import { AgentActivityQuery } from '../queries/agent-activity/agent-activity.query';
import { GetOwnedAgentQuery } from '../queries/get-owned-agent/get-owned-agent.query';
import { ListAgentsQuery } from '../queries/list-agents/list-agents.query';
import { ROLE_TEMPLATES } from '../templates/role-templates';

@ApiTags('agents')
@ApiBearerAuth('bearer')
@ApiProblemResponses(400, 401, 404, 429)
@UseGuards(ProjectAccessGuard)
@Controller('v1/my/projects/:projectId/agents')
export class AgentsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  @ApiOperation({ summary: "List a project's agents" })
  @Get()
  @ApiOkResponse({ type: AgentPageDto })
  async list(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @Query() page: PageQueryDto,
  ): Promise<AgentPageDto> {
    const result = await this.queries.execute(
      new ListAgentsQuery(project.id, user.id, page.limit, page.cursor),
    );
    return { items: await this.withStatus(result.items), next_cursor: result.nextCursor };
  }

  @ApiOperation({ summary: 'Create an agent' })
  @Post()
  @ApiCreatedResponse({
    type: AgentDto,
    description: 'Defaults come from the role template; explicit fields win',
  })
  @ApiProblemResponses(409, 413)
  async create(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @Body() body: CreateAgentDto,
  ): Promise<AgentDto> {
    const input = { ...toAgentInput(body), role: body.role ?? 'ask' } as AgentInput;
    const [agent] = await this.withStatus([
      await this.commands.execute(new CreateAgentCommand(project.id, user.id, input)),
    ]);
    return agent;
  }

  @ApiOperation({ summary: 'Get an agent' })
  @Get(':agentId')
  @ApiOkResponse({ type: AgentDto })
  async get(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('agentId') agentId: string,
  ): Promise<AgentDto> {
    const [agent] = await this.withStatus([
      await this.queries.execute(new GetOwnedAgentQuery(project.id, agentId, user.id)),
    ]);
    return agent;
  }

  @ApiOperation({ summary: 'Change an agent' })
  @Patch(':agentId')
  @ApiOkResponse({ type: AgentDto })
  @ApiProblemResponses(409, 413)
  async update(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('agentId') agentId: string,
    @Body() body: UpdateAgentDto,
  ): Promise<AgentDto> {
    const agent = await this.commands.execute(
      new UpdateAgentCommand(project.id, agentId, user.id, toAgentInput(body)),
    );
    const [dto] = await this.withStatus([agent]);
    return dto;
  }

  @ApiOperation({ summary: 'Delete an agent' })
  @Delete(':agentId')
  @HttpCode(204)
  @ApiNoContentResponse({
    description: 'Deleted; its memory is forgotten and its active runs cancelled right after',
  })
  async remove(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('agentId') agentId: string,
  ): Promise<void> {
    await this.commands.execute(new DeleteAgentCommand(project.id, agentId, user.id));
  }

  /** Status is derived from what is running (one query for the whole page). */
  private async withStatus(agents: Agent[]): Promise<AgentDto[]> {
    const running = await this.queries.execute(new AgentActivityQuery(agents.map((a) => a.id)));
    return agents.map((a) => AgentDto.from(a, running[a.id] ?? 0));
  }
}

@ApiTags('agents')
@Public()
@ApiProblemResponses(429)
@Controller('v1/agent-templates')
export class AgentTemplatesController {
  @ApiOperation({ summary: 'List the role templates' })
  @Get()
  @ApiOkResponse({
    type: [RoleTemplateDto],
    description: 'Built-in roles an agent can be created from',
  })
  list(): RoleTemplateDto[] {
    return ROLE_TEMPLATES.map((t) => ({
      role: t.role,
      description: t.description,
      system_prompt: t.systemPrompt,
      temperature: t.temperature,
      tools: t.tools,
      write_paths: t.writePaths,
      approval_tools: t.approvalTools,
    }));
  }
}
