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
import { ApiProblemResponses, PageQueryDto, UuidParam } from '@codelab/platform';
import { type AuthUser, CurrentUser } from '@codelab/auth';
import { CreateProjectCommand } from '../commands/create-project/create-project.command';
import { DeleteProjectCommand } from '../commands/delete-project/delete-project.command';
import { UpdateProjectCommand } from '../commands/update-project/update-project.command';
import { CreateProjectDto, ProjectDto, ProjectPageDto, UpdateProjectDto } from '../dto/project.dto';
import { type Project } from '../entities/project.entity';
import { ListProjectsQuery } from '../queries/list-projects/list-projects.query';
import { CurrentProject, ProjectAccessGuard } from './project-access.guard';

@ApiTags('projects')
@ApiBearerAuth('bearer')
@ApiProblemResponses(401, 429)
@Controller('v1/my/projects')
export class ProjectsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  @ApiOperation({ summary: 'List my projects' })
  @Get()
  @ApiOkResponse({
    type: ProjectPageDto,
    description: 'Newest first; follow `next_cursor` for the next page',
  })
  @ApiProblemResponses(400)
  async list(@CurrentUser() user: AuthUser, @Query() page: PageQueryDto): Promise<ProjectPageDto> {
    const result = await this.queries.execute(
      new ListProjectsQuery(user.id, page.limit, page.cursor),
    );
    return { items: result.items.map(ProjectDto.from), next_cursor: result.nextCursor };
  }

  @ApiOperation({ summary: 'Create a project' })
  @Post()
  @ApiCreatedResponse({ type: ProjectDto })
  @ApiProblemResponses(400, 413)
  async create(@CurrentUser() user: AuthUser, @Body() body: CreateProjectDto): Promise<ProjectDto> {
    const project = await this.commands.execute(
      new CreateProjectCommand(user.id, body.name, body.description ?? null, body.settings ?? null),
    );
    return ProjectDto.from(project);
  }

  @ApiOperation({ summary: 'Get a project' })
  @Get(':projectId')
  @UseGuards(ProjectAccessGuard)
  @ApiOkResponse({ type: ProjectDto })
  @ApiProblemResponses(400, 404)
  get(@UuidParam('projectId') _projectId: string, @CurrentProject() project: Project): ProjectDto {
    return ProjectDto.from(project);
  }

  @ApiOperation({ summary: 'Rename a project or change its settings' })
  @Patch(':projectId')
  @ApiOkResponse({ type: ProjectDto })
  @ApiProblemResponses(400, 404, 413)
  async update(
    @CurrentUser() user: AuthUser,
    @UuidParam('projectId') projectId: string,
    @Body() body: UpdateProjectDto,
  ): Promise<ProjectDto> {
    const project = await this.commands.execute(
      new UpdateProjectCommand(projectId, user.id, {
        name: body.name,
        description: body.description,
        settings: body.settings,
      }),
    );
    return ProjectDto.from(project);
  }

  @ApiOperation({ summary: 'Delete a project' })
  @Delete(':projectId')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Deleted with everything it owns' })
  @ApiProblemResponses(400, 404)
  async remove(
    @CurrentUser() user: AuthUser,
    @UuidParam('projectId') projectId: string,
  ): Promise<void> {
    await this.commands.execute(new DeleteProjectCommand(projectId, user.id));
  }
}
