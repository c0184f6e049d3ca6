import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Post,
  Put,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiProblemResponses, DomainError, RequestValidationError } from '@codelab/platform';
import { CurrentProject, type Project, ProjectAccessGuard } from '@codelab/projects';
import {
  DeleteEntryQueryDto,
  ListEntriesQueryDto,
  MovedEntryDto,
  MoveEntryDto,
  PathQueryDto,
  toEntryDto,
  WorkspaceEntryPageDto,
  WrittenFileDto,
} from '../dto/workspace.dto';
import { type ExpectedVersion, WorkspaceFiles } from '../files/workspace-files';
import { WorkspaceQuotaExceededError } from '../workspace.errors';

class UnsupportedFileBodyError extends DomainError {
  readonly code = 'UNSUPPORTED_MEDIA_TYPE';
  readonly kind = 'invalid' as const;
  constructor() {
    super('Send file contents as raw bytes (application/octet-stream or text/*), not JSON');
  }
}

const SHA256 = /^[0-9a-f]{64}$/;

/** `"<sha256>"`, `W/"<sha256>"` or a bare digest: the version a client holds. */
function versionOf(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const digest = header
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
  if (!SHA256.test(digest))
    throw new RequestValidationError([
      { field: name, messages: ['must be an ETag from this API ("<sha256>") or *'] },
    ]);
  return digest;
}

/** If-Match / If-None-Match: * to the version a write must find (see ExpectedVersion). */
function expectedOf(ifMatch?: string, ifNoneMatch?: string): ExpectedVersion {
  if (ifMatch !== undefined && ifNoneMatch !== undefined)
    throw new RequestValidationError([
      { field: 'If-None-Match', messages: ['cannot be combined with If-Match'] },
    ]);
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*')
      throw new RequestValidationError([
        { field: 'If-None-Match', messages: ['only * (create only) is supported on writes'] },
      ]);
    return null;
  }
  return versionOf(ifMatch, 'If-Match');
}

/** Reads a raw request body up to `limit` bytes (the JSON parser leaves other types unread). */
async function readBody(req: Request, limit: number): Promise<Buffer> {
  if ((req as { _body?: boolean })._body || req.readableEnded) throw new UnsupportedFileBodyError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume(); // Drain the rest so the connection stays usable.
      throw new WorkspaceQuotaExceededError(`A file may hold at most ${limit} bytes`, {
        limit_bytes: limit,
      });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const IF_MATCH = {
  name: 'If-Match',
  required: false,
  description: 'Only if the file is still at this version (its ETag); 412 otherwise',
};

@ApiTags('workspace')
@ApiBearerAuth('bearer')
@ApiProblemResponses(400, 401, 403, 404, 429)
@UseGuards(ProjectAccessGuard)
@Controller('v1/my/projects/:projectId/workspace')
export class WorkspaceController {
  constructor(private readonly files: WorkspaceFiles) {}

  @ApiOperation({ summary: 'List workspace entries' })
  @Get('entries')
  @ApiOkResponse({
    type: WorkspaceEntryPageDto,
    description: 'A directory, sorted by name, keyset-paginated; symlinks are listed, not followed',
  })
  @ApiProblemResponses(422)
  async list(
    @CurrentProject() project: Project,
    @Query() query: ListEntriesQueryDto,
  ): Promise<WorkspaceEntryPageDto> {
    const page = await this.files.list(project.id, query.path, {
      cursor: query.cursor,
      limit: query.limit,
    });
    return { path: page.path, items: page.items.map(toEntryDto), next_cursor: page.nextCursor };
  }

  @ApiOperation({ summary: 'Delete a file or directory' })
  @Delete('entries')
  @HttpCode(204)
  @ApiHeader(IF_MATCH)
  @ApiNoContentResponse({ description: 'Deleted (a symlink itself, never its target)' })
  @ApiProblemResponses(409, 412, 422)
  async remove(
    @CurrentProject() project: Project,
    @Query() query: DeleteEntryQueryDto,
    @Headers('if-match') ifMatch?: string,
  ): Promise<void> {
    await this.files.remove(project.id, query.path, {
      recursive: query.recursive,
      expected: versionOf(ifMatch, 'If-Match'),
    });
  }

  @ApiOperation({ summary: 'Move a file or directory' })
  @Post('moves')
  @HttpCode(200)
  @ApiOkResponse({ type: MovedEntryDto, description: 'Moved; the target must not exist' })
  @ApiProblemResponses(409, 422)
  async move(
    @CurrentProject() project: Project,
    @Body() body: MoveEntryDto,
  ): Promise<MovedEntryDto> {
    return this.files.move(project.id, body.from, body.to);
  }

  @ApiOperation({ summary: 'Read a file' })
  @Get('files')
  @ApiProduces('application/octet-stream')
  @ApiHeader({
    name: 'If-None-Match',
    required: false,
    description: 'The ETag you hold: 304 while the file is unchanged',
  })
  @ApiOkResponse({
    description: 'The file, byte for byte; ETag is its sha256',
    content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
  })
  @ApiResponse({ status: 304, description: 'Unchanged since the ETag in If-None-Match' })
  @ApiProblemResponses(422)
  async read(
    @CurrentProject() project: Project,
    @Query() query: PathQueryDto,
    @Res() res: Response,
    @Headers('if-none-match') ifNoneMatch?: string,
  ): Promise<void> {
    const file = await this.files.read(project.id, query.path);
    const etag = `"${file.sha256}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Last-Modified', file.modifiedAt.toUTCString());
    res.setHeader('Cache-Control', 'private, no-cache');
    const held = ifNoneMatch?.split(',').map((t) => t.trim().replace(/^W\//, ''));
    if (held?.includes(etag) || held?.includes('*')) {
      res.status(304).end();
      return;
    }
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.status(200).end(file.content);
  }

  @ApiOperation({ summary: 'Write a file' })
  @Put('files')
  @ApiConsumes('application/octet-stream', 'text/plain')
  @ApiBody({
    description: 'The whole new content, raw (not JSON)',
    schema: { type: 'string', format: 'binary' },
  })
  @ApiHeader(IF_MATCH)
  @ApiHeader({
    name: 'If-None-Match',
    required: false,
    description: '* to create only: 412 if the file exists',
  })
  @ApiCreatedResponse({ type: WrittenFileDto, description: 'Created' })
  @ApiOkResponse({ type: WrittenFileDto, description: 'Replaced' })
  @ApiProblemResponses(412, 422)
  async write(
    @CurrentProject() project: Project,
    @Query() query: PathQueryDto,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @Headers('if-match') ifMatch?: string,
    @Headers('if-none-match') ifNoneMatch?: string,
  ): Promise<WrittenFileDto> {
    const expected = expectedOf(ifMatch, ifNoneMatch);
    const content = await readBody(req, this.files.limits.maxFileBytes);
    const written = await this.files.write(project.id, query.path, content, expected);
    res.status(written.created ? 201 : 200);
    res.setHeader('ETag', `"${written.sha256}"`);
    return written;
  }
}
