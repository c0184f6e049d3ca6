import { ApiProperty } from '@nestjs/swagger';
import type { Plan, PlanTask } from '../entities/plan.entity';

export class PlanTaskDto {
  @ApiProperty({ example: 't1' })
  id!: string;
  @ApiProperty({ example: 'DataAnalyst' })
  agent!: string;
  @ApiProperty()
  instruction!: string;
  @ApiProperty({ type: [String] })
  depends_on!: string[];
  @ApiProperty({
    type: [String],
    description: 'Globs it writes; overlapping tasks never overlap in time',
  })
  writes!: string[];
  @ApiProperty({ enum: ['fail_plan', 'skip', 'retry'] })
  on_failure!: string;
  @ApiProperty({ enum: ['pending', 'running', 'completed', 'failed', 'skipped', 'cancelled'] })
  status!: string;
  @ApiProperty({ example: 1 })
  attempt!: number;
  @ApiProperty({ format: 'uuid', nullable: true, type: String })
  child_run_id!: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    description: 'The first 500 characters of its result',
  })
  result_summary!: string | null;
  @ApiProperty({ nullable: true, type: Object })
  error!: { code: string; message: string } | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  started_at!: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  finished_at!: string | null;
}

export class PlanDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;
  @ApiProperty({ format: 'uuid' })
  run_id!: string;
  @ApiProperty({ enum: ['running', 'completed', 'failed', 'cancelled'] })
  status!: string;
  @ApiProperty({
    example: 0,
    description: 'Times the planner was asked again after an invalid plan',
  })
  replans!: number;
  @ApiProperty({
    example: 0,
    description: 'Times the planner was asked to recover from failed tasks (at most 2)',
  })
  recoveries!: number;
  @ApiProperty({ type: [PlanTaskDto] })
  tasks!: PlanTaskDto[];
  @ApiProperty({ format: 'date-time' })
  created_at!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  finished_at!: string | null;
}

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);

export function toPlanDto(plan: Plan, tasks: PlanTask[]): PlanDto {
  return {
    id: plan.id,
    run_id: plan.runId,
    status: plan.status,
    replans: plan.replans,
    recoveries: plan.recoveries,
    created_at: new Date(plan.createdAt).toISOString(),
    finished_at: iso(plan.finishedAt),
    tasks: tasks.map((t) => ({
      id: t.taskId,
      agent: t.agentName,
      instruction: t.instruction,
      depends_on: t.dependsOn,
      writes: t.writes,
      on_failure: t.onFailure,
      status: t.status,
      attempt: t.attempts,
      child_run_id: t.childRunId,
      result_summary:
        t.result === null || t.result === undefined
          ? null
          : (typeof t.result === 'string' ? t.result : JSON.stringify(t.result)).slice(0, 500),
      error: t.error,
      started_at: iso(t.startedAt),
      finished_at: iso(t.finishedAt),
    })),
  };
}
