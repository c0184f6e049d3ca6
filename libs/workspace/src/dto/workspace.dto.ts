import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { Transform } from 'class-transformer';
import { PageQueryDto } from '@codelab/platform';
import type { WorkspaceEntry } from '../files/workspace-files';
import { MAX_PATH_BYTES } from '../paths/workspace-path';

const PATH_DOC =
  'Workspace-relative path with forward slashes (no leading "/", no "..", at most 1,024 bytes)';

export class PathQueryDto {
  @ApiProperty({ description: PATH_DOC, example: 'src/app.ts' })
  @IsString()
  @MaxLength(MAX_PATH_BYTES * 4)
  path!: string;
}

export class ListEntriesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: `${PATH_DOC}; the root by default`, example: 'src' })
  @IsOptional()
  @IsString()
  @MaxLength(MAX_PATH_BYTES * 4)
  path: string = '.';
}

export class DeleteEntryQueryDto extends PathQueryDto {
  @ApiPropertyOptional({
    description: 'Delete a non-empty directory with everything in it',
    default: false,
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    value === 'true' ? true : value === 'false' ? false : value,
  )
  @IsBoolean()
  recursive: boolean = false;
}

export class MoveEntryDto {
  @ApiProperty({ description: PATH_DOC, example: 'notes/draft.md' })
  @IsString()
  @MaxLength(MAX_PATH_BYTES * 4)
  from!: string;

  @ApiProperty({ description: `${PATH_DOC}; must not exist yet`, example: 'docs/design.md' })
  @IsString()
  @MaxLength(MAX_PATH_BYTES * 4)
  to!: string;
}

export class MovedEntryDto {
  @ApiProperty({ example: 'notes/draft.md' })
  from!: string;
  @ApiProperty({ example: 'docs/design.md' })
  to!: string;
}

export class WorkspaceEntryDto {
  @ApiProperty({ example: 'app.ts' })
  name!: string;
  @ApiProperty({ example: 'src/app.ts' })
  path!: string;
  @ApiProperty({ enum: ['file', 'directory', 'symlink', 'other'], example: 'file' })
  @IsIn(['file', 'directory', 'symlink', 'other'])
  type!: string;
  @ApiProperty({ example: 1204, description: 'Bytes (of the link itself for a symlink)' })
  size!: number;
  @ApiProperty({
    nullable: true,
    type: String,
    example: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    description: 'Files only: the ETag of GET .../workspace/files',
  })
  sha256!: string | null;
  @ApiProperty({ format: 'date-time', example: '2026-11-23T12:00:00.000Z' })
  modified_at!: string;
}

export class WorkspaceEntryPageDto {
  @ApiProperty({ example: 'src', description: 'The listed directory, resolved' })
  path!: string;
  @ApiProperty({ type: [WorkspaceEntryDto] })
  items!: WorkspaceEntryDto[];
  @ApiProperty({ nullable: true, type: String, example: null })
  next_cursor!: string | null;
}

export class WrittenFileDto {
  @ApiProperty({ example: 'src/app.ts' })
  path!: string;
  @ApiProperty({ example: 1204 })
  size!: number;
  @ApiProperty({ example: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' })
  sha256!: string;
  @ApiProperty({ example: true, description: 'false when an existing file was replaced' })
  created!: boolean;
}

export const toEntryDto = (e: WorkspaceEntry): WorkspaceEntryDto => ({
  name: e.name,
  path: e.path,
  type: e.type,
  size: e.size,
  sha256: e.sha256,
  modified_at: e.modifiedAt.toISOString(),
});
