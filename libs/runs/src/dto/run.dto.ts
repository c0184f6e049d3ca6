import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { JSON_VALUE_OR_NULL } from '@codelab/platform';
import {
  RunKind,
  RunMode,
  RunStatus,
  type RunError,
  type RunUsage,
  type RunWarning,
} from '../entities/run.entity';
import { StepEffect, StepKind, StepStatus } from '../entities/run-step.entity';

export class RunWarningDto {
  @ApiProperty({ example: 'MEMORY_UNAVAILABLE' })
  code!: string;
  @ApiProperty({
    example: 'Memory recall failed (embeddings endpoint); the run answered without memory',
  })
  message!: string;
}

export class RunDto {
  @ApiProperty({ format: 'uuid', example: '3c1e0d6a-9a0b-4c3e-8f2d-1b7e6a5c4d30' })
  id!: string;
  @ApiProperty({ format: 'uuid', example: '6a0f3f0e-2b9a-4c8f-9d77-1f4b4c2d9e10' })
  session_id!: string;
  @ApiProperty({ format: 'uuid', example: '5d3c8f0a-0d6e-4f3a-9c55-0b1f5f7e2a10' })
  agent_id!: string;
  @ApiProperty({ example: 'CodeAssistant' })
  agent_name!: string;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, example: null })
  parent_run_id!: string | null;
  @ApiProperty({ enum: RunKind, example: RunKind.Agent })
  kind!: RunKind;
  @ApiProperty({ enum: RunMode, example: RunMode.Direct })
  mode!: RunMode;
  @ApiProperty({
    enum: RunStatus,
    example: RunStatus.Queued,
    description:
      'queued -> running -> completed | failed | cancelled | expired; a run may park in awaiting_approval or awaiting_children and resume',
  })
  status!: RunStatus;
  @ApiProperty({
    example: 'session:6a0f3f0e-2b9a-4c8f-9d77-1f4b4c2d9e10',
    description: 'The queue it waits in: runs of one lane run one at a time, in order',
  })
  lane!: string;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, example: null })
  input_message_id!: string | null;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, example: null })
  output_message_id!: string | null;
  @ApiProperty({ nullable: true, type: Object, example: { input_tokens: 120, output_tokens: 42 } })
  usage!: RunUsage | null;
  @ApiProperty({
    nullable: true,
    type: Object,
    example: null,
    description: '{code, message} when failed',
  })
  error!: RunError | null;
  @ApiProperty({
    type: [RunWarningDto],
    description:
      'What the run did without, e.g. MEMORY_UNAVAILABLE when memory recall or storage failed and the run answered without it',
  })
  warnings!: RunWarning[];
  @ApiProperty({ example: 1, description: 'Times a worker started it (crash recoveries included)' })
  executions!: number;
  @ApiProperty({ format: 'date-time', example: '2026-11-21T12:00:00.000Z' })
  created_at!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, example: null })
  started_at!: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, example: null })
  finished_at!: string | null;
  @ApiProperty({
    nullable: true,
    type: Object,
    example: null,
    description:
      "What a run was asked without a message of its own: a delegated task's `{task: {instruction, returns, from_agent_name}}`, a switch continuation's `{switch: {from_agent_name, explanation, note}}`",
  })
  input!: Record<string, unknown> | null;
  @ApiProperty({
    ...JSON_VALUE_OR_NULL,
    example: { total: 3 },
    description:
      "A delegated task's result (validated against the delegator's `returns` schema when it gave one)",
  })
  result!: unknown;
}

export class RunDetailDto extends RunDto {
  @ApiProperty({
    type: [RunDto],
    description: 'The runs it delegated to (kind task), oldest first',
  })
  children!: RunDto[];
  @ApiProperty({
    nullable: true,
    type: Object,
    example: null,
    description: "An orchestration run's plan (as GET .../runs/{runId}/plan), else null",
  })
  plan!: Record<string, unknown> | null;
}

export class RunPageDto {
  @ApiProperty({ type: [RunDto] })
  items!: RunDto[];
  @ApiProperty({ nullable: true, type: String, example: null })
  next_cursor!: string | null;
}

export class RunStepDto {
  @ApiProperty({ example: 1, description: 'Position in the run (journal order)' })
  seq!: number;
  @ApiProperty({ enum: StepKind, example: StepKind.Llm })
  kind!: StepKind;
  @ApiProperty({ example: 'read_file', description: 'The tool, or the model for an llm step' })
  name!: string;
  @ApiProperty({ nullable: true, type: String, example: null })
  tool_call_id!: string | null;
  @ApiProperty({ nullable: true, type: Object, example: { path: 'src/index.ts' } })
  args!: Record<string, unknown> | null;
  @ApiProperty({
    nullable: true,
    type: String,
    description: 'SHA-256 of the RFC 8785 JSON of args',
  })
  args_digest!: string | null;
  @ApiProperty({ enum: StepEffect, example: StepEffect.Read })
  effect!: StepEffect;
  @ApiProperty({
    enum: StepStatus,
    example: StepStatus.Succeeded,
    description:
      'unknown_outcome: a write or command was started and never reported back; it was not repeated',
  })
  status!: StepStatus;
  @ApiProperty({ nullable: true, type: Object, description: 'Bounded (16 KiB of JSON)' })
  result!: Record<string, unknown> | null;
  @ApiProperty({ nullable: true, type: Object, example: null })
  error!: { code: string; message: string } | null;
  @ApiProperty({ nullable: true, type: Object, example: { input_tokens: 210, output_tokens: 18 } })
  usage!: { input_tokens: number; output_tokens: number } | null;
  @ApiProperty({ format: 'uuid', nullable: true, type: String })
  message_id!: string | null;
  @ApiProperty({ example: 1 })
  attempts!: number;
  @ApiProperty({ format: 'date-time' })
  started_at!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  finished_at!: string | null;
  @ApiProperty({ nullable: true, type: Number, example: 412, description: 'finished - started' })
  duration_ms!: number | null;
}

export class RunStepPageDto {
  @ApiProperty({ type: [RunStepDto], description: 'Ascending by seq' })
  items!: RunStepDto[];
  @ApiProperty({ nullable: true, type: Number, example: null, description: 'Pass as ?after=' })
  next_after!: number | null;
}

export class StepPageQueryDto {
  @ApiPropertyOptional({ minimum: 0, maximum: 2147483647, description: 'Steps after this seq' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(2_147_483_647)
  after?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit: number = 50;
}
