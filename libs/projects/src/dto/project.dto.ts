import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  Max,
  Min,
  IsObject,
  IsString,
  MaxLength,
  MinLength,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { type Project, type ProjectSettings, settingsOf } from '../entities/project.entity';
import { isPresent, trimString } from '@codelab/platform';

const ACTIONS = ['approve', 'reject'] as const;

export class ApprovalDefaultActionsDto {
  @ApiProperty({ enum: ACTIONS, example: 'reject' })
  @IsIn(ACTIONS)
  tool!: 'approve' | 'reject';

  @ApiProperty({ enum: ACTIONS, example: 'reject' })
  @IsIn(ACTIONS)
  command!: 'approve' | 'reject';
}

export class ProjectSettingsDto implements ProjectSettings {
  @ApiProperty({
    example: false,
    description: 'Agents may run commands (run_command, sandboxed). Off by default.',
  })
  commands_enabled!: boolean;

  @ApiProperty({
    example: true,
    description: "Every command waits for the user's approval, whatever the agent's policy says",
  })
  commands_need_approval!: boolean;

  @ApiProperty({
    example: ['secrets/**'],
    type: [String],
    description: 'Globs agents may neither read nor change (.git and .env* always are)',
  })
  agent_denied_paths!: string[];

  @ApiProperty({
    example: ['write_file'],
    type: [String],
    description: "Tools whose calls wait for approval, on top of each agent's approval_tools",
  })
  approval_tools!: string[];

  @ApiProperty({
    example: 300,
    minimum: 10,
    maximum: 86400,
    description: 'How long an approval waits before its default action applies',
  })
  approval_deadline_seconds!: number;

  @ApiProperty({
    type: ApprovalDefaultActionsDto,
    description: 'What the deadline decides, per kind (reject unless set to approve)',
  })
  approval_default_actions!: ApprovalDefaultActionsDto;

  @ApiProperty({
    example: false,
    description:
      "An orchestrated request's plan waits for the user's approval (kind plan; the user may edit it) before any task runs; a plan approval's deadline rejects it",
  })
  require_plan_approval!: boolean;
}

/** A change to some settings; the others keep their values. */
export class ProjectSettingsInputDto implements Partial<ProjectSettings> {
  @ApiPropertyOptional({ example: true })
  @ValidateIf(isPresent)
  @IsBoolean()
  commands_enabled?: boolean;

  @ApiPropertyOptional({ example: true })
  @ValidateIf(isPresent)
  @IsBoolean()
  commands_need_approval?: boolean;

  @ApiPropertyOptional({ example: ['secrets/**'], type: [String], maxItems: 100 })
  @ValidateIf(isPresent)
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(500, { each: true })
  agent_denied_paths?: string[];

  @ApiPropertyOptional({ example: ['write_file'], type: [String], maxItems: 100 })
  @ValidateIf(isPresent)
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(100, { each: true })
  approval_tools?: string[];

  @ApiPropertyOptional({ example: 300, minimum: 10, maximum: 86400 })
  @ValidateIf(isPresent)
  @IsInt()
  @Min(10)
  @Max(86_400)
  approval_deadline_seconds?: number;

  @ApiPropertyOptional({ type: ApprovalDefaultActionsDto })
  @ValidateIf(isPresent)
  @ValidateNested()
  @Type(() => ApprovalDefaultActionsDto)
  approval_default_actions?: ApprovalDefaultActionsDto;

  @ApiPropertyOptional({ example: true })
  @ValidateIf(isPresent)
  @IsBoolean()
  require_plan_approval?: boolean;
}

export class CreateProjectDto {
  @ApiProperty({ example: 'Payments service', minLength: 1, maxLength: 200 })
  @Transform(trimString)
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiPropertyOptional({
    type: String,
    example: 'Refactoring the payments backend',
    maxLength: 2000,
    nullable: true,
  })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  description?: string | null;

  @ApiPropertyOptional({ type: ProjectSettingsInputDto })
  // Absent means the defaults; null or an array is not settings.
  @ValidateIf(isPresent)
  @IsObject()
  @ValidateNested()
  @Type(() => ProjectSettingsInputDto)
  settings?: ProjectSettingsInputDto;
}

export class UpdateProjectDto {
  @ApiPropertyOptional({ example: 'Payments service v2', minLength: 1, maxLength: 200 })
  // Absent means unchanged; null is not a name.
  @ValidateIf(isPresent)
  @Transform(trimString)
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name?: string;

  @ApiPropertyOptional({
    type: String,
    example: null,
    maxLength: 2000,
    nullable: true,
    description: 'null clears it',
  })
  @ValidateIf((_, value) => value !== null && value !== undefined)
  @IsString()
  @MaxLength(2000)
  description?: string | null;

  @ApiPropertyOptional({
    type: ProjectSettingsInputDto,
    description: 'Only the settings given change',
  })
  @ValidateIf(isPresent)
  @IsObject()
  @ValidateNested()
  @Type(() => ProjectSettingsInputDto)
  settings?: ProjectSettingsInputDto;
}

export class ProjectDto {
  @ApiProperty({ example: '9b2d9a6e-3f7e-4a51-8d43-2b7f0c8f4e21', format: 'uuid' })
  id!: string;

  @ApiProperty({ example: 'Payments service' })
  name!: string;

  @ApiProperty({ example: 'Refactoring the payments backend', nullable: true, type: String })
  description!: string | null;

  @ApiProperty({ type: ProjectSettingsDto })
  settings!: ProjectSettingsDto;

  @ApiProperty({ example: '2026-11-21T12:00:00.000Z', format: 'date-time' })
  created_at!: string;

  @ApiProperty({ example: '2026-11-21T12:00:00.000Z', format: 'date-time' })
  updated_at!: string;

  static from(project: Project): ProjectDto {
    return {
      id: project.id,
      name: project.name,
      description: project.description,
      settings: settingsOf(project),
      created_at: project.createdAt.toISOString(),
      updated_at: project.updatedAt.toISOString(),
    };
  }
}

export class ProjectPageDto {
  @ApiProperty({ type: [ProjectDto] })
  items!: ProjectDto[];

  @ApiProperty({
    example: 'MjAyNi0xMS0yMVQxMjowMDowMC4wMDBafDliMmQ5YTZl...',
    nullable: true,
    type: String,
  })
  next_cursor!: string | null;
}
