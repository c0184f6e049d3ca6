import { Body, Controller, Get, Headers, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  ApiIdempotencyKey,
  ApiProblemResponses,
  idempotencyKeyOf,
  UuidParam,
} from '@codelab/platform';
import { type AuthUser, CurrentUser } from '@codelab/auth';
import { CurrentProject, type Project, ProjectAccessGuard } from '@codelab/projects';
import { ApprovalDecisions } from '../approval-decisions';
import {
  ApprovalDto,
  ApprovalPageDto,
  ApproveApprovalDto,
  ListApprovalsQueryDto,
  RejectApprovalDto,
  toApprovalDto,
} from '../dto/approval.dto';
import { GetOwnedApprovalQuery, ListApprovalsQuery } from '../queries/approval.queries';

const DECISION_IDEMPOTENCY =
  'Retrying a decision with the same key answers as the first time (not 409)';

@ApiTags('approvals')
@ApiBearerAuth('bearer')
@ApiProblemResponses(400, 401, 404, 429)
@UseGuards(ProjectAccessGuard)
@Controller('v1/my/projects/:projectId/approvals')
export class ApprovalsController {
  constructor(
    private readonly queries: QueryBus,
    private readonly decisions: ApprovalDecisions,
  ) {}

  @ApiOperation({ summary: 'List approvals' })
  @Get()
  @ApiOkResponse({
    type: ApprovalPageDto,
    description: 'Newest first; decided ones are the audit trail',
  })
  async list(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @Query() query: ListApprovalsQueryDto,
  ): Promise<ApprovalPageDto> {
    const page = await this.queries.execute(
      new ListApprovalsQuery(
        project.id,
        user.id,
        { status: query.status, sessionId: query.session_id },
        query.limit,
        query.cursor,
      ),
    );
    return { items: page.items.map(toApprovalDto), next_cursor: page.nextCursor };
  }

  @ApiOperation({ summary: 'Get an approval' })
  @Get(':approvalId')
  @ApiOkResponse({ type: ApprovalDto })
  async get(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('approvalId') approvalId: string,
  ): Promise<ApprovalDto> {
    return toApprovalDto(
      await this.queries.execute(new GetOwnedApprovalQuery(project.id, user.id, approvalId)),
    );
  }

  @ApiOperation({ summary: 'Approve (optionally with edited arguments)' })
  @Post(':approvalId/approve')
  @HttpCode(200)
  @ApiIdempotencyKey(DECISION_IDEMPOTENCY)
  @ApiOkResponse({
    type: ApprovalDto,
    description:
      'Approved: the run resumes and the call runs once, with these (or the edited) arguments',
  })
  @ApiProblemResponses(409, 422)
  async approve(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('approvalId') approvalId: string,
    @Body() body: ApproveApprovalDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<ApprovalDto> {
    const decided = await this.decisions.decide({
      approvalId,
      action: 'approve',
      actor: 'user',
      owner: { projectId: project.id, ownerId: user.id },
      argsDigest: body.args_digest,
      editedArgs: body.edited_args,
      reason: body.reason,
      idempotencyKey: idempotencyKeyOf(idempotencyKey),
    });
    return toApprovalDto(decided!);
  }

  @ApiOperation({ summary: 'Reject' })
  @Post(':approvalId/reject')
  @HttpCode(200)
  @ApiIdempotencyKey(DECISION_IDEMPOTENCY)
  @ApiOkResponse({
    type: ApprovalDto,
    description: 'Rejected: the model is told (with the reason) and the run goes on',
  })
  @ApiProblemResponses(409)
  async reject(
    @CurrentUser() user: AuthUser,
    @CurrentProject() project: Project,
    @UuidParam('approvalId') approvalId: string,
    @Body() body: RejectApprovalDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<ApprovalDto> {
    const decided = await this.decisions.decide({
      approvalId,
      action: 'reject',
      actor: 'user',
      owner: { projectId: project.id, ownerId: user.id },
      argsDigest: body.args_digest,
      reason: body.reason,
      idempotencyKey: idempotencyKeyOf(idempotencyKey),
    });
    return toApprovalDto(decided!);
  }
}
