import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
  ValidateBy,
  type ValidationOptions,
  IsIn,
} from 'class-validator';
import { type ChatSession, type SessionMode } from '../entities/chat-session.entity';
import { MessageRole } from '../entities/message.entity';
import { RunDto } from '@codelab/runs';
import { isPresent, trimString } from '@codelab/platform';

/** The most a message's content may hold, in characters (Unicode code points). */
export const MESSAGE_CONTENT_MAX_CHARS = 32_000;

/** Unicode code points: an emoji is one, though it is two UTF-16 units and four UTF-8 bytes. */
export function countCodePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/**
 * At most `max` characters, counted as Unicode code points: what JSON Schema's `maxLength` (so
 * the OpenAPI document) means. class-validator's MaxLength counts neither units nor code points
 * (it also skips U+FE0E/U+FE0F variation selectors), so it cannot back a documented maxLength.
 */
function MaxCodePoints(max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'maxCodePoints',
      constraints: [max],
      validator: {
        validate: (value: unknown) => typeof value === 'string' && countCodePoints(value) <= max,
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} must be at most ${max} characters (Unicode code points)`,
      },
    },
    options,
  );
}

export class CreateSessionDto {
  @ApiPropertyOptional({ example: 'Refactor the billing module', maxLength: 200 })
  @ValidateIf(isPresent)
  @Transform(trimString)
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  title?: string;

  @ApiPropertyOptional({
    example: 'CodeAssistant',
    description: 'Name or id of the agent to start with (default: the first agent)',
  })
  @ValidateIf(isPresent)
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  agent?: string;

  @ApiPropertyOptional({
    enum: ['direct', 'orchestrated'],
    default: 'direct',
    description:
      "Who answers a message without `target_agent`: the session's current agent (`direct`), or the project's orchestrator, which routes it to an agent or plans a DAG of agent tasks (`orchestrated`)",
  })
  @ValidateIf(isPresent)
  @IsIn(['direct', 'orchestrated'])
  mode?: SessionMode;
}

export class UpdateSessionDto {
  @ApiProperty({ example: 'Billing refactor, part 2', maxLength: 200 })
  @Transform(trimString)
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  title!: string;
}

export class SessionDto {
  @ApiProperty({ format: 'uuid', example: '6a0f3f0e-2b9a-4c8f-9d77-1f4b4c2d9e10' })
  id!: string;
  @ApiProperty({ format: 'uuid', example: '9b2d9a6e-3f7e-4a51-8d43-2b7f0c8f4e21' })
  project_id!: string;
  @ApiProperty({ example: 'Refactor the billing module' })
  title!: string;
  @ApiProperty({
    format: 'uuid',
    nullable: true,
    type: String,
    example: '5d3c8f0a-0d6e-4f3a-9c55-0b1f5f7e2a10',
  })
  current_agent_id!: string | null;
  @ApiProperty({ enum: ['direct', 'orchestrated'], example: 'direct' })
  mode!: SessionMode;
  @ApiProperty({ example: 12, description: 'Number of messages (the last seq)' })
  message_count!: number;
  @ApiProperty({ format: 'date-time', example: '2026-11-21T12:00:00.000Z' })
  created_at!: string;
  @ApiProperty({ format: 'date-time', example: '2026-11-21T12:00:00.000Z' })
  updated_at!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, example: null })
  archived_at!: string | null;

  static from(s: ChatSession): SessionDto {
    return {
      id: s.id,
      project_id: s.project.id,
      title: s.title,
      current_agent_id: s.currentAgentId,
      mode: s.mode,
      message_count: s.lastSeq,
      created_at: s.createdAt.toISOString(),
      updated_at: s.updatedAt.toISOString(),
      archived_at: s.archivedAt?.toISOString() ?? null,
    };
  }
}

export class SessionPageDto {
  @ApiProperty({ type: [SessionDto] })
  items!: SessionDto[];
  @ApiProperty({ nullable: true, type: String, example: null })
  next_cursor!: string | null;
}

export class SendMessageDto {
  @ApiProperty({
    example: 'Explain what the invoice module does',
    minLength: 1,
    maxLength: MESSAGE_CONTENT_MAX_CHARS,
    description:
      'At most 32,000 characters, counted as Unicode code points (as JSON Schema `maxLength` does): an emoji (U+1F600) is one character, though it is 4 bytes in UTF-8 and 2 UTF-16 units. Combining sequences (flags, skin tones, variation selectors) count each code point.',
  })
  @IsString()
  @MinLength(1)
  @MaxCodePoints(MESSAGE_CONTENT_MAX_CHARS)
  // Whitespace alone is not a message.
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && value.trim() === '' ? '' : value,
  )
  content!: string;

  @ApiPropertyOptional({
    example: 'DocumentWriter',
    description: 'Name or id of an agent of this project (direct call)',
  })
  @ValidateIf(isPresent)
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  target_agent?: string;

  @ApiPropertyOptional({
    enum: ['enqueue', 'reject', 'interrupt'],
    default: 'enqueue',
    description:
      'When a run of this conversation is still active: `enqueue` (wait your turn), `reject` (409 RUN_IN_PROGRESS), `interrupt` (cancel the active run, then start)',
  })
  @ValidateIf(isPresent)
  @IsIn(['enqueue', 'reject', 'interrupt'])
  on_busy?: 'enqueue' | 'reject' | 'interrupt';
}

export class MessageQueryDto {
  @ApiPropertyOptional({
    description: 'Messages with seq below this, the newest of them',
    example: 51,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  before?: number;

  @ApiPropertyOptional({
    description: 'Messages with seq above this, the oldest of them',
    example: 0,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  after?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit: number = 50;
}

export class MessageDto {
  @ApiProperty({ format: 'uuid', example: '0d6a3c1e-9a0b-4c3e-8f2d-1b7e6a5c4d30' })
  id!: string;
  @ApiProperty({ format: 'uuid', example: '6a0f3f0e-2b9a-4c8f-9d77-1f4b4c2d9e10' })
  session_id!: string;
  @ApiProperty({ example: 1 })
  seq!: number;
  @ApiProperty({ enum: MessageRole, example: MessageRole.User })
  role!: MessageRole;
  @ApiProperty({ example: 'Explain what the invoice module does' })
  content!: string;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, example: null })
  agent_id!: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'CodeAssistant' })
  agent_name!: string | null;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, example: null })
  run_id!: string | null;
  @ApiProperty({
    nullable: true,
    type: 'array',
    items: { type: 'object' },
    example: null,
    description:
      'An assistant turn that calls tools: [{id, name, args}]; its results follow as role "tool" messages',
  })
  tool_calls!: { id: string; name: string; args: Record<string, unknown> }[] | null;
  @ApiProperty({
    nullable: true,
    type: String,
    example: null,
    description: 'A tool result: the call it answers',
  })
  tool_call_id!: string | null;
  @ApiProperty({ type: Object, example: {} })
  metadata!: Record<string, unknown>;
  @ApiProperty({
    example: false,
    description:
      "A delegated task's turn (its run is a child run): part of the record, not of the conversation",
  })
  internal!: boolean;
  @ApiProperty({ format: 'date-time', example: '2026-11-21T12:00:00.000Z' })
  created_at!: string;
}

export class MessagePageDto {
  @ApiProperty({ type: [MessageDto], description: 'Ascending by seq' })
  items!: MessageDto[];
  @ApiProperty({
    example: false,
    description: 'More messages exist beyond this page in the direction asked',
  })
  has_more!: boolean;
}

export class SendMessageResponseDto {
  @ApiProperty({ type: MessageDto })
  message!: MessageDto;
  @ApiProperty({ type: RunDto })
  run!: RunDto;
}
