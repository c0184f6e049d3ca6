import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsString, MaxLength, MinLength, ValidateIf } from 'class-validator';
import { isPresent } from '@codelab/platform';
import { type AgentSwitch, SwitchReason } from '../entities/agent-switch.entity';

export class AgentSwitchDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;
  @ApiProperty({ format: 'uuid' })
  session_id!: string;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, example: null })
  from_agent_id!: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'CodeAssistant' })
  from_agent_name!: string | null;
  @ApiProperty({ format: 'uuid' })
  to_agent_id!: string;
  @ApiProperty({ example: 'DocumentWriter' })
  to_agent_name!: string;
  @ApiProperty({
    enum: SwitchReason,
    description: 'tool: the agent called switch_agent; user: chosen with POST .../active-agent',
  })
  reason!: SwitchReason;
  @ApiProperty({ nullable: true, type: String, example: 'The user wants documentation' })
  explanation!: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'Write the README section on setup' })
  note!: string | null;
  @ApiProperty({
    format: 'uuid',
    nullable: true,
    type: String,
    description: 'The run that switched',
  })
  run_id!: string | null;
  @ApiProperty({
    format: 'uuid',
    nullable: true,
    type: String,
    description: "The new agent's run that answers the user's last message (tool switches)",
  })
  continuation_run_id!: string | null;
  @ApiProperty({ format: 'date-time' })
  created_at!: string;
}

export class AgentSwitchPageDto {
  @ApiProperty({ type: [AgentSwitchDto] })
  items!: AgentSwitchDto[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as `cursor` for the next page' })
  next_cursor!: string | null;
}

export class SetActiveAgentDto {
  @ApiProperty({
    example: 'DocumentWriter',
    description: "The agent that answers this conversation's next messages: its name or id",
  })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  agent!: string;

  @ApiPropertyOptional({ maxLength: 2000, example: 'I want the docs written now' })
  @ValidateIf(isPresent)
  @IsString()
  @MaxLength(2000)
  explanation?: string;
}

export function toAgentSwitchDto(s: AgentSwitch): AgentSwitchDto {
  return {
    id: s.id,
    session_id: s.sessionId,
    from_agent_id: s.fromAgentId,
    from_agent_name: s.fromAgentName,
    to_agent_id: s.toAgentId,
    to_agent_name: s.toAgentName,
    reason: s.reason,
    explanation: s.explanation,
    note: s.note,
    run_id: s.runId,
    continuation_run_id: s.continuationRunId,
    created_at: new Date(s.createdAt).toISOString(),
  };
}
