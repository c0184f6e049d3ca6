import { Controller, Delete, Get, HttpCode, Query, UseGuards } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import {
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import {
  ApiProblemResponses,
  PageQueryDto,
  ResourceNotFoundError,
  UuidParam,
} from '@codelab/platform';
import { type AuthUser, CurrentUser } from '@codelab/auth';
import { CurrentProject, type Project, ProjectAccessGuard } from '@codelab/projects';
import { type MemoryItem, MemoryService } from '@codelab/memory';
import { GetOwnedAgentQuery } from '../queries/get-owned-agent/get-owned-agent.query';

export class MemoryQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    description: 'Semantic search: results ranked by similarity, with scores',
    example: 'deploy target',
  })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(2000)
  q?: string;
}

export class MemoryItemDto {
  @ApiProperty({ format: 'uuid', example: '0b0f6c36-7a9c-4a36-9f8a-6f7f6c0d3c21' })
  id!: string;
  @ApiProperty({ example: 'User: where do we deploy?\nAssistant: To the staging cluster.' })
  content!: string;
  @ApiProperty({ example: { kind: 'interaction' }, type: Object })
  metadata!: Record<string, unknown>;
  @ApiProperty({ format: 'date-time', example: '2026-11-21T12:00:00.000Z' })
  created_at!: string;
  @ApiPropertyOptional({ example: 0.83, description: 'Cosine similarity (searches only)' })
  score?: number;
}

export class MemoryPageDto {
  @ApiProperty({ type: [MemoryItemDto] })
  items!: MemoryItemDto[];
  @ApiProperty({
    nullable: true,
    type: String,
    example: null,
    description: 'Absent for searches (one ranked page)',
  })
  next_cursor!: string | null;
}

const toDto = (m: MemoryItem): MemoryItemDto => ({
  id: m.id,
  content: m.content,
  metadata: m.metadata,
  created_at: m.createdAt.toISOString(),
  ...(m.score !== undefined ? { score: Math.round(m.score * 10_000) / 10_000 } : {}),
});

@ApiTags('agents')
@ApiBearerAuth('bearer')
@ApiProblemResponses(400, 401, 404, 429)
@UseGuards(ProjectAccessGuard)
@Controller('v1/my/projects/:projectId/agents/:agentId/memory')
export class AgentMemoryController {
  constructor(
    private readonly queries: QueryBus,
    private readonly memory: MemoryService,
  ) {}

  @ApiOperation({ summary: "List or search an agent's memory" })
  @Get()
  @ApiOkResponse({
    type: MemoryPageDto,
    description: 'Newest first; with `q`, the best matches first',
  })
  async list(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('agentId') agentId: string,
    @Query() query: MemoryQueryDto,
  ): Promise<MemoryPageDto> {
    // Loads by id, project AND owner: another user's agent is a 404 before memory is touched.
    const agent = await this.queries.execute(new GetOwnedAgentQuery(project.id, agentId, user.id));
    const scope = { ownerId: user.id, agentId: agent.id };
    if (query.q) {
      const hits = await this.memory.search(scope, query.q, query.limit);
      return { items: hits.map(toDto), next_cursor: null };
    }
    const page = await this.memory.list(scope, query.limit, query.cursor);
    return { items: page.items.map(toDto), next_cursor: page.nextCursor };
  }

  @ApiOperation({ summary: 'Forget a memory' })
  @Delete(':memoryId')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Forgotten' })
  async remove(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('agentId') agentId: string,
    @UuidParam('memoryId') memoryId: string,
  ): Promise<void> {
    const agent = await this.queries.execute(new GetOwnedAgentQuery(project.id, agentId, user.id));
    const deleted = await this.memory.delete({ ownerId: user.id, agentId: agent.id }, memoryId);
    if (!deleted) throw new ResourceNotFoundError('Memory');
  }
}
