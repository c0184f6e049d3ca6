import { Controller, Get, UseGuards } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponses, ResourceNotFoundError, UuidParam } from '@codelab/platform';
import { type AuthUser, CurrentUser } from '@codelab/auth';
import { CurrentProject, type Project, ProjectAccessGuard } from '@codelab/projects';
import { GetRunQuery } from '@codelab/runs';
import { GetOwnedSessionQuery } from '@codelab/sessions';
import { PlanDto, toPlanDto } from '../dto/plan.dto';
import { GetPlanQuery } from '../queries/get-plan/get-plan.query';

@ApiTags('sessions')
@ApiBearerAuth('bearer')
@ApiProblemResponses(400, 401, 404, 429)
@UseGuards(ProjectAccessGuard)
@Controller('v1/my/projects/:projectId/sessions/:sessionId/runs/:runId')
export class PlansController {
  constructor(private readonly queries: QueryBus) {}

  @ApiOperation({ summary: "Get an orchestration run's plan" })
  @Get('plan')
  @ApiOkResponse({
    type: PlanDto,
    description:
      "An orchestration run's plan: each task's status, agent, child run, attempt, timings and result summary",
  })
  async plan(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('sessionId') sessionId: string,
    @UuidParam('runId') runId: string,
  ): Promise<PlanDto> {
    await this.queries.execute(new GetOwnedSessionQuery(project.id, sessionId, user.id));
    const run = await this.queries.execute(new GetRunQuery(sessionId, runId, user.id));
    const found = await this.queries.execute(new GetPlanQuery(run.id, user.id));
    if (!found) throw new ResourceNotFoundError('Plan');
    return toPlanDto(found.plan, found.tasks);
  }
}
