import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, IsString, MaxLength, MinLength, ValidateIf } from 'class-validator';
import { type Project } from '../entities/project.entity';
import { isPresent, trimString } from '@codelab/platform';

export class CreateProjectDto {
  @ApiProperty({ example: 'Payments service', minLength: 1, maxLength: 200 })
  @Transform(trimString)
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiPropertyOptional({
    example: 'Refactoring the payments backend',
    maxLength: 2000,
    nullable: true,
  })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  description?: string | null;
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
    example: null,
    maxLength: 2000,
    nullable: true,
    description: 'null clears it',
  })
  @ValidateIf((_, value) => value !== null && value !== undefined)
  @IsString()
  @MaxLength(2000)
  description?: string | null;
}

export class ProjectDto {
  @ApiProperty({ example: '9b2d9a6e-3f7e-4a51-8d43-2b7f0c8f4e21', format: 'uuid' })
  id!: string;

  @ApiProperty({ example: 'Payments service' })
  name!: string;

  @ApiProperty({ example: 'Refactoring the payments backend', nullable: true, type: String })
  description!: string | null;

  @ApiProperty({ example: '2026-11-21T12:00:00.000Z', format: 'date-time' })
  created_at!: string;

  @ApiProperty({ example: '2026-11-21T12:00:00.000Z', format: 'date-time' })
  updated_at!: string;

  static from(project: Project): ProjectDto {
    return {
      id: project.id,
      name: project.name,
      description: project.description,
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
