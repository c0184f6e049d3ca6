import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
} from 'class-validator';
import { AgentStatus, type Agent } from '../entities/agent.entity';
import { TOOL_NAMES } from '@codelab/tools';
import { ROLE_NAMES } from '../templates/role-templates';
import { isPresent, trimString } from '@codelab/platform';

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 _.-]*$/;
// Relative globs only: no leading slash, no drive letter, no backslash, no `..` segment.
const GLOB_PATTERN = /^(?![/~])(?![A-Za-z]:)(?!.*\\)(?!(.*\/)?\.\.(\/|$))[^\0]+$/;

class AgentFieldsDto {
  @ApiPropertyOptional({ example: 'You are a careful reviewer.', maxLength: 20000 })
  @ValidateIf(isPresent)
  @IsString()
  @MaxLength(20_000)
  system_prompt?: string;

  @ApiPropertyOptional({
    example: 'gpt-4o-mini',
    description: 'Model name for the configured provider',
  })
  @ValidateIf(isPresent)
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  model?: string;

  @ApiPropertyOptional({ example: 0.2, minimum: 0, maximum: 2 })
  @ValidateIf(isPresent)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(2)
  temperature?: number;

  @ApiPropertyOptional({ example: ['read_file', 'write_file'], enum: TOOL_NAMES, isArray: true })
  @ValidateIf(isPresent)
  @IsArray()
  @ArrayMaxSize(TOOL_NAMES.length)
  @ArrayUnique()
  @IsIn(TOOL_NAMES, { each: true })
  tools?: string[];

  @ApiPropertyOptional({
    example: ['docs/**/*.md'],
    description: 'Workspace-relative globs write tools may touch',
  })
  @ValidateIf(isPresent)
  @IsArray()
  @ArrayMaxSize(50)
  @ArrayUnique()
  @IsString({ each: true })
  @MaxLength(200, { each: true })
  @Matches(GLOB_PATTERN, {
    each: true,
    message: 'write_paths must be workspace-relative globs without ".."',
  })
  write_paths?: string[];

  @ApiPropertyOptional({
    example: ['write_file'],
    enum: TOOL_NAMES,
    isArray: true,
    description: 'Tools whose calls wait for approval',
  })
  @ValidateIf(isPresent)
  @IsArray()
  @ArrayMaxSize(TOOL_NAMES.length)
  @ArrayUnique()
  @IsIn(TOOL_NAMES, { each: true })
  approval_tools?: string[];

  @ApiPropertyOptional({ example: 2, minimum: 1, maximum: 32, default: 2 })
  @ValidateIf(isPresent)
  @IsInt()
  @Min(1)
  @Max(32)
  concurrency_limit?: number;

  @ApiPropertyOptional({
    example: true,
    default: true,
    description: 'Recall and store semantic memory',
  })
  @ValidateIf(isPresent)
  @IsBoolean()
  memory_enabled?: boolean;

  @ApiPropertyOptional({
    example: 5,
    minimum: 1,
    maximum: 20,
    default: 5,
    description: 'Memory hits recalled per call',
  })
  @ValidateIf(isPresent)
  @IsInt()
  @Min(1)
  @Max(20)
  memory_top_k?: number;

  @ApiPropertyOptional({
    example: 16,
    minimum: 1,
    maximum: 100,
    default: 16,
    description: 'Model turns a run may take (tool loops included) before it fails',
  })
  @ValidateIf(isPresent)
  @IsInt()
  @Min(1)
  @Max(100)
  max_steps?: number;

  @ApiPropertyOptional({
    example: 600,
    minimum: 10,
    maximum: 86400,
    default: 600,
    description:
      'Seconds a run may execute before it fails with RUN_TIMEOUT (time parked excluded)',
  })
  @ValidateIf(isPresent)
  @IsInt()
  @Min(10)
  @Max(86_400)
  max_run_seconds?: number;
}

export class CreateAgentDto extends AgentFieldsDto {
  @ApiProperty({ example: 'Reviewer', maxLength: 100 })
  @Transform(trimString)
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @Matches(NAME_PATTERN, { message: 'name may contain letters, digits, spaces, "_", "." and "-"' })
  name!: string;

  @ApiPropertyOptional({
    example: 'debug',
    enum: ROLE_NAMES,
    default: 'ask',
    description: 'Template that fills the defaults',
  })
  @ValidateIf(isPresent)
  @IsIn(ROLE_NAMES)
  role?: string;
}

export class UpdateAgentDto extends AgentFieldsDto {
  @ApiPropertyOptional({ example: 'Reviewer 2', maxLength: 100 })
  @ValidateIf(isPresent)
  @Transform(trimString)
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @Matches(NAME_PATTERN, { message: 'name may contain letters, digits, spaces, "_", "." and "-"' })
  name?: string;

  @ApiPropertyOptional({
    example: 'debug',
    enum: ROLE_NAMES,
    description: 'Changes the label only; fields keep their values',
  })
  @ValidateIf(isPresent)
  @IsIn(ROLE_NAMES)
  role?: string;
}

export class AgentDto {
  @ApiProperty({ format: 'uuid', example: '5d3c8f0a-0d6e-4f3a-9c55-0b1f5f7e2a10' })
  id!: string;
  @ApiProperty({ format: 'uuid', example: '9b2d9a6e-3f7e-4a51-8d43-2b7f0c8f4e21' })
  project_id!: string;
  @ApiProperty({ example: 'CodeAssistant' })
  name!: string;
  @ApiProperty({ example: 'coder', enum: ROLE_NAMES })
  role!: string;
  @ApiProperty({
    enum: AgentStatus,
    example: AgentStatus.Ready,
    description: 'Derived: busy while a run of the agent is executing',
  })
  status!: AgentStatus;
  @ApiProperty({ example: 'You are a senior software engineer.' })
  system_prompt!: string;
  @ApiProperty({ example: 'offline' })
  model!: string;
  @ApiProperty({ example: 0.2 })
  temperature!: number;
  @ApiProperty({ example: ['read_file', 'write_file'], type: [String] })
  tools!: string[];
  @ApiProperty({ example: ['**/*'], type: [String] })
  write_paths!: string[];
  @ApiProperty({ example: ['write_file'], type: [String] })
  approval_tools!: string[];
  @ApiProperty({ example: 2 })
  concurrency_limit!: number;
  @ApiProperty({ example: true })
  memory_enabled!: boolean;
  @ApiProperty({ example: 5 })
  memory_top_k!: number;
  @ApiProperty({ example: 16 })
  max_steps!: number;
  @ApiProperty({ example: 600 })
  max_run_seconds!: number;
  @ApiProperty({ format: 'date-time', example: '2026-11-21T12:00:00.000Z' })
  created_at!: string;
  @ApiProperty({ format: 'date-time', example: '2026-11-21T12:00:00.000Z' })
  updated_at!: string;

  static from(agent: Agent, running = 0): AgentDto {
    return {
      id: agent.id,
      project_id: agent.project.id,
      name: agent.name,
      role: agent.role,
      status: running > 0 ? AgentStatus.Busy : AgentStatus.Ready,
      system_prompt: agent.systemPrompt,
      model: agent.model,
      temperature: agent.temperature,
      tools: agent.tools,
      write_paths: agent.writePaths,
      approval_tools: agent.approvalTools,
      concurrency_limit: agent.concurrencyLimit,
      memory_enabled: agent.memoryEnabled,
      memory_top_k: agent.memoryTopK,
      max_steps: agent.maxSteps,
      max_run_seconds: agent.maxRunSeconds,
      created_at: agent.createdAt.toISOString(),
      updated_at: agent.updatedAt.toISOString(),
    };
  }
}

export class AgentPageDto {
  @ApiProperty({ type: [AgentDto] })
  items!: AgentDto[];
  @ApiProperty({ nullable: true, type: String, example: null })
  next_cursor!: string | null;
}

export class RoleTemplateDto {
  @ApiProperty({ example: 'architect' })
  role!: string;
  @ApiProperty({ example: 'Reads everything, writes only Markdown design documents.' })
  description!: string;
  @ApiProperty({ example: 'You are a software architect.' })
  system_prompt!: string;
  @ApiProperty({ example: 0.4 })
  temperature!: number;
  @ApiProperty({ example: ['read_file', 'write_file'], type: [String] })
  tools!: string[];
  @ApiProperty({ example: ['**/*.md'], type: [String] })
  write_paths!: string[];
  @ApiProperty({ example: ['write_file'], type: [String] })
  approval_tools!: string[];
}

/** snake_case body -> domain input (undefined stays undefined: "not given"). */
export function toAgentInput(dto: AgentFieldsDto & { name?: string; role?: string }) {
  return {
    name: dto.name,
    role: dto.role,
    systemPrompt: dto.system_prompt,
    model: dto.model,
    temperature: dto.temperature,
    tools: dto.tools,
    writePaths: dto.write_paths,
    approvalTools: dto.approval_tools,
    concurrencyLimit: dto.concurrency_limit,
    memoryEnabled: dto.memory_enabled,
    memoryTopK: dto.memory_top_k,
    maxSteps: dto.max_steps,
    maxRunSeconds: dto.max_run_seconds,
  };
}
