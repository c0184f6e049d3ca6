import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsObject, IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import { PageQueryDto } from '@codelab/platform';
import { type Approval, ApprovalKind, ApprovalStatus } from '../entities/approval.entity';

const DIGEST = /^[0-9a-f]{64}$/;

export class ApprovalDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;
  @ApiProperty({ format: 'uuid' })
  project_id!: string;
  @ApiProperty({ format: 'uuid' })
  session_id!: string;
  @ApiProperty({ format: 'uuid' })
  run_id!: string;
  @ApiProperty({ example: 4, description: 'The step of the run that waits' })
  step_seq!: number;
  @ApiProperty({ format: 'uuid' })
  agent_id!: string;
  @ApiProperty({ enum: ApprovalKind, example: 'tool' })
  kind!: ApprovalKind;
  @ApiProperty({ example: 'write_file' })
  tool!: string;
  @ApiProperty({ type: Object, example: { path: 'src/app.ts', content: '...' } })
  args!: Record<string, unknown>;
  @ApiProperty({
    example: '3f1c...e9',
    description: 'SHA-256 of the RFC 8785 canonical JSON of args: send it with your decision',
  })
  args_digest!: string;
  @ApiProperty({ example: 'tool "write_file" requires approval' })
  reason!: string;
  @ApiProperty({ enum: ApprovalStatus, example: 'pending' })
  status!: ApprovalStatus;
  @ApiProperty({ example: 1 })
  version!: number;
  @ApiProperty({ format: 'date-time' })
  deadline_at!: string;
  @ApiProperty({ enum: ['approve', 'reject'], description: 'What the deadline decides' })
  default_action!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  decided_at!: string | null;
  // OpenAPI 3.0: with an enum, null is allowed only when the enum lists it.
  @ApiProperty({ enum: ['user', 'timeout', 'system', null], nullable: true, type: String })
  decided_by!: string | null;
  @ApiProperty({ nullable: true, type: String })
  decision_reason!: string | null;
  @ApiProperty({ nullable: true, type: Object })
  edited_args!: Record<string, unknown> | null;
  @ApiProperty({ nullable: true, type: String })
  edited_digest!: string | null;
  @ApiProperty({ format: 'date-time' })
  created_at!: string;
}

export const toApprovalDto = (a: Approval): ApprovalDto => ({
  id: a.id,
  project_id: a.projectId,
  session_id: a.sessionId,
  run_id: a.runId,
  step_seq: a.stepSeq,
  agent_id: a.agentId,
  kind: a.kind,
  tool: a.toolName,
  args: a.args,
  args_digest: a.argsDigest,
  reason: a.reason,
  status: a.status,
  version: a.version,
  deadline_at: new Date(a.deadlineAt).toISOString(),
  default_action: a.defaultAction,
  decided_at: a.decidedAt ? new Date(a.decidedAt).toISOString() : null,
  decided_by: a.decidedBy,
  decision_reason: a.decisionReason,
  edited_args: a.editedArgs,
  edited_digest: a.editedDigest,
  created_at: new Date(a.createdAt).toISOString(),
});

export class ApprovalPageDto {
  @ApiProperty({ type: [ApprovalDto] })
  items!: ApprovalDto[];
  @ApiProperty({ nullable: true, type: String })
  next_cursor!: string | null;
}

export class ListApprovalsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ApprovalStatus })
  @IsOptional()
  @IsIn(Object.values(ApprovalStatus))
  status?: ApprovalStatus;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  session_id?: string;
}

export class RejectApprovalDto {
  @ApiProperty({ description: 'The args_digest of the approval you decide on' })
  @IsString()
  @Matches(DIGEST, { message: 'args_digest must be a sha256 hex digest' })
  args_digest!: string;

  @ApiPropertyOptional({ maxLength: 2000, description: 'Told to the model (rejections)' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  reason?: string;
}

export class ApproveApprovalDto extends RejectApprovalDto {
  @ApiPropertyOptional({
    type: Object,
    description:
      "Run these arguments instead: checked against the tool's schema and the agent's policy; never wider than what was asked",
  })
  @IsOptional()
  @IsObject()
  @Type(() => Object)
  edited_args?: Record<string, unknown>;
}
