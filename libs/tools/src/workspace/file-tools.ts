import { DomainError } from '@codelab/platform';
import {
  isDeniedToAgents,
  sha256,
  type WorkspaceFiles,
  WorkspaceEntryNotFoundError,
  WorkspacePreconditionFailedError,
} from '@codelab/workspace';
import type { PlanState, Tool, ToolContext, ToolPlan, ToolResult } from '../tool';
import { searchWorkspace } from './search-files';

const DEFAULT_READ_BYTES = 64 * 1024;
const MAX_READ_BYTES = 256 * 1024;
const MAX_LIST_ENTRIES = 500;

const pathArg = {
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  description: 'Workspace-relative path with forward slashes',
};
const shaArg = {
  type: 'string',
  pattern: '^[0-9a-f]{64}$',
  description: 'The sha256 you last saw: the call fails if the file changed since',
};

/** Expected failures (bad path, missing file, quota...) are tool errors the model reads. */
async function guarded<T>(work: () => Promise<T>): Promise<T | ToolResult> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DomainError)
      return { kind: 'error', code: error.code, message: error.message };
    throw error;
  }
}

const isResult = (value: unknown): value is ToolResult =>
  typeof value === 'object' && value !== null && 'kind' in value;

const denied = (path: string): ToolResult => ({
  kind: 'error',
  code: 'PATH_DENIED',
  message: `"${path}" is off limits to agents`,
});

/** One file's expected version before and after a planned change (null: no file). */
interface PlannedOp {
  path: string;
  before: string | null;
  after: string | null;
}

/**
 * The shared half of the change-making tools: a plan's ops are checked against the files' current
 * versions; apply happens only over the versions planned (compare-and-swap), so a change is
 * applied once, after a crash too.
 */
function planned(
  ops: PlannedOp[],
  output: Record<string, unknown>,
  apply: () => Promise<unknown>,
  context: ToolContext,
): ToolPlan {
  return {
    intent: { ops, output },
    async apply() {
      const failed = await guarded(apply);
      if (isResult(failed)) return failed;
      for (const op of ops) context.publish('file_changed', { path: op.path, sha256: op.after });
      return { kind: 'ok', output };
    },
  };
}

async function checkPlan(
  files: WorkspaceFiles,
  intent: Record<string, unknown>,
  context: ToolContext,
): Promise<{ state: PlanState; output?: unknown }> {
  const ops = (intent.ops ?? []) as PlannedOp[];
  const now = await Promise.all(
    ops.map((op) => files.versionOf(context.projectId, op.path).catch(() => undefined)),
  );
  if (ops.every((op, i) => now[i] === op.after)) {
    for (const op of ops) context.publish('file_changed', { path: op.path, sha256: op.after });
    return { state: 'applied', output: intent.output };
  }
  if (ops.every((op, i) => now[i] === op.before)) return { state: 'pending' };
  return { state: 'diverged' };
}

async function runPlan(plan: ToolPlan | ToolResult): Promise<ToolResult> {
  return isResult(plan) ? plan : plan.apply();
}

const splitLines = (text: string) => text.split('\n');

/**
 * The workspace tools agents call. Every path goes through the workspace's one resolver; the
 * policy decides on the resolved paths (`targets`); change-making tools plan first, so the journal
 * knows what "done" looks like (see ToolPlan).
 */
export function fileTools(files: WorkspaceFiles): Tool[] {
  const resolve = (context: ToolContext, raw: unknown, field = 'path', followLast = true) =>
    files.resolve(context.projectId, raw, field, followLast);
  const target = (field: string, followLast = true) =>
    async function targets(args: Record<string, unknown>, context: ToolContext) {
      return guarded(async () => [await resolve(context, args[field] ?? '.', field, followLast)]);
    };
  /** Resolves and refuses denied paths: what each tool starts with. */
  /**
   * The path a call acts on: the one the policy decided on (`context.resolvedPaths`, in the order
   * `targets` gave them), so a symlink swapped in between cannot redirect it; the
   * descriptor-relative walks then refuse any symlink on the way. Denied paths are refused.
   */
  const allowed = async (
    context: ToolContext,
    raw: unknown,
    field = 'path',
    followLast = true,
    index = 0,
  ) => {
    const path = context.resolvedPaths?.[index] ?? (await resolve(context, raw, field, followLast));
    return isDeniedToAgents(path, context.deniedPaths) ? denied(path) : path;
  };

  /**
   * A change-making tool: its plan (expected failures as tool errors), its crash check from the
   * plan, and execute = plan then apply (see ToolPlan).
   */
  const changeTool = (
    tool: Pick<Tool, 'name' | 'description' | 'parameters' | 'targets'> & {
      plan(args: Record<string, unknown>, context: ToolContext): Promise<ToolPlan | ToolResult>;
    },
  ): Tool => ({
    ...tool,
    effect: 'write',
    plan: (args, context) => guarded(() => tool.plan(args, context)),
    check: (intent, context) => checkPlan(files, intent, context),
    execute: (args, context) => guarded(() => tool.plan(args, context)).then(runPlan),
  });

  /** `expected_sha256`, when given, must be the file's current version (null: no file). */
  const checkExpected = (path: string, args: Record<string, unknown>, current: string | null) => {
    const expected = args.expected_sha256 as string | undefined;
    if (expected !== undefined && expected !== current)
      throw new WorkspacePreconditionFailedError(path, expected, current);
  };

  /** A whole-file write, applied only over the version it was planned on. */
  const plannedWrite = (
    context: ToolContext,
    path: string,
    before: string | null,
    content: Buffer,
    output: Record<string, unknown>,
  ) => {
    const after = sha256(content);
    return planned(
      [{ path, before, after }],
      { path, sha256: after, bytes: content.length, ...output },
      () => files.write(context.projectId, path, content, before, { resolved: true }),
      context,
    );
  };

  const writeFile = changeTool({
    name: 'write_file',
    description:
      'Create or replace a whole text file in the workspace (parent directories are created). Pass expected_sha256 to fail instead of overwriting a file that changed.',
    parameters: {
      type: 'object',
      properties: { path: pathArg, content: { type: 'string' }, expected_sha256: shaArg },
      required: ['path', 'content'],
      additionalProperties: false,
    },
    targets: target('path'),
    plan: async (args, context) => {
      const path = await allowed(context, args.path);
      if (isResult(path)) return path;
      const before = await files.versionOf(context.projectId, path);
      checkExpected(path, args, before);
      return plannedWrite(context, path, before, Buffer.from(String(args.content), 'utf8'), {
        created: before === null,
      });
    },
  });

  const editFile = changeTool({
    name: 'edit_file',
    description:
      'Edit a text file by exact search/replace blocks, applied in order. Each search text must occur exactly once in the file at that point; otherwise nothing is changed and the error names the block.',
    parameters: {
      type: 'object',
      properties: {
        path: pathArg,
        edits: {
          type: 'array',
          minItems: 1,
          maxItems: 50,
          items: {
            type: 'object',
            properties: { search: { type: 'string', minLength: 1 }, replace: { type: 'string' } },
            required: ['search', 'replace'],
            additionalProperties: false,
          },
        },
        expected_sha256: shaArg,
      },
      required: ['path', 'edits'],
      additionalProperties: false,
    },
    targets: target('path'),
    plan: async (args, context) => {
      const path = await allowed(context, args.path);
      if (isResult(path)) return path;
      const file = await files.read(context.projectId, path);
      checkExpected(path, args, file.sha256);
      let text = file.content.toString('utf8');
      const edits = args.edits as { search: string; replace: string }[];
      for (const [i, edit] of edits.entries()) {
        const count = text.split(edit.search).length - 1;
        if (count !== 1)
          return {
            kind: 'error',
            code: 'EDIT_NOT_APPLIED',
            message: `Edit ${i + 1} of ${edits.length}: its search text ${count === 0 ? 'was not found' : `occurs ${count} times`} in "${path}"${count > 1 ? '; include more context to make it unique' : ''}. Nothing was changed.`,
          } satisfies ToolResult;
        const at = text.indexOf(edit.search);
        text = text.slice(0, at) + edit.replace + text.slice(at + edit.search.length);
      }
      return plannedWrite(context, path, file.sha256, Buffer.from(text, 'utf8'), {
        edits_applied: edits.length,
      });
    },
  });

  const deleteFile = changeTool({
    name: 'delete_file',
    description: 'Delete a file from the workspace.',
    parameters: {
      type: 'object',
      properties: { path: pathArg, expected_sha256: shaArg },
      required: ['path'],
      additionalProperties: false,
    },
    targets: target('path', false),
    plan: async (args, context) => {
      const path = await allowed(context, args.path, 'path', false);
      if (isResult(path)) return path;
      const before = await files.versionOf(context.projectId, path);
      if (before === null) throw new WorkspaceEntryNotFoundError(path);
      checkExpected(path, args, before);
      return planned(
        [{ path, before, after: null }],
        { path, deleted: true },
        () => files.remove(context.projectId, path, { expected: before, resolved: true }),
        context,
      );
    },
  });

  const moveFile = changeTool({
    name: 'move_file',
    description: 'Move or rename a file; the destination must not exist.',
    parameters: {
      type: 'object',
      properties: { from: pathArg, to: pathArg },
      required: ['from', 'to'],
      additionalProperties: false,
    },
    targets: (args, context) =>
      guarded(async () => [
        await resolve(context, args.from, 'from', false),
        await resolve(context, args.to, 'to', false),
      ]),
    plan: async (args, context) => {
      const from = await allowed(context, args.from, 'from', false);
      if (isResult(from)) return from;
      const to = await allowed(context, args.to, 'to', false, 1);
      if (isResult(to)) return to;
      const version = await files.versionOf(context.projectId, from);
      if (version === null) throw new WorkspaceEntryNotFoundError(from);
      const existing = await files.versionOf(context.projectId, to).catch(() => 'other');
      if (existing !== null) throw new WorkspacePreconditionFailedError(to, null, existing);
      return planned(
        [
          { path: from, before: version, after: null },
          { path: to, before: null, after: version },
        ],
        { from, to },
        () => files.move(context.projectId, from, to, { resolved: true }),
        context,
      );
    },
  });

  const readFile: Tool = {
    name: 'read_file',
    description:
      'Read a text file from the workspace, optionally a range of lines (1-based, inclusive). Returns its sha256 (for expected_sha256), its line count, and whether the content was cut at max_bytes.',
    parameters: {
      type: 'object',
      properties: {
        path: pathArg,
        start_line: { type: 'integer', minimum: 1 },
        end_line: { type: 'integer', minimum: 1 },
        max_bytes: { type: 'integer', minimum: 1, maximum: MAX_READ_BYTES },
      },
      required: ['path'],
      additionalProperties: false,
    },
    effect: 'read',
    targets: target('path'),
    execute: (args, context) =>
      guarded(async (): Promise<ToolResult> => {
        const path = await allowed(context, args.path);
        if (isResult(path)) return path;
        const file = await files.read(context.projectId, path);
        const base = { path, sha256: file.sha256, size: file.size };
        if (file.content.subarray(0, 8192).includes(0))
          return { kind: 'ok', output: { ...base, binary: true } };
        const lines = splitLines(file.content.toString('utf8'));
        const start = Math.min((args.start_line as number | undefined) ?? 1, lines.length);
        const end = Math.min((args.end_line as number | undefined) ?? lines.length, lines.length);
        if (end < start)
          return {
            kind: 'error',
            code: 'INVALID_ARGUMENTS',
            message: `end_line (${end}) is before start_line (${start})`,
          };
        const text = lines.slice(start - 1, end).join('\n');
        const cap = (args.max_bytes as number | undefined) ?? DEFAULT_READ_BYTES;
        const bytes = Buffer.from(text, 'utf8');
        const truncated = bytes.length > cap;
        return {
          kind: 'ok',
          output: {
            ...base,
            total_lines: lines.length,
            start_line: start,
            end_line: end,
            // Cut on a character boundary (a partial UTF-8 sequence is dropped).
            content: truncated
              ? new TextDecoder().decode(bytes.subarray(0, cap)).replace(/\uFFFD$/, '')
              : text,
            truncated,
          },
        };
      }),
  };

  const listFiles: Tool = {
    name: 'list_files',
    description:
      'List a workspace directory (the root by default): names, types and sizes; recursive lists the whole subtree (up to 500 entries).',
    parameters: {
      type: 'object',
      properties: { path: pathArg, recursive: { type: 'boolean' } },
      additionalProperties: false,
    },
    effect: 'read',
    targets: target('path'),
    execute: (args, context) =>
      guarded(async (): Promise<ToolResult> => {
        const path = await allowed(context, args.path ?? '.');
        if (isResult(path)) return path;
        const entries: { path: string; type: string; size: number }[] = [];
        const queue = [path];
        let truncated = false;
        while (queue.length && !truncated) {
          const dir = queue.shift()!;
          let cursor: string | undefined;
          do {
            const page = await files.list(context.projectId, dir, { cursor, limit: 100 });
            for (const entry of page.items) {
              if (isDeniedToAgents(entry.path, context.deniedPaths)) continue;
              if (entries.length >= MAX_LIST_ENTRIES) {
                truncated = true;
                break;
              }
              entries.push({ path: entry.path, type: entry.type, size: entry.size });
              if (args.recursive === true && entry.type === 'directory') queue.push(entry.path);
            }
            cursor = page.nextCursor ?? undefined;
          } while (cursor && !truncated);
        }
        return { kind: 'ok', output: { path, entries, truncated } };
      }),
  };

  const searchFiles: Tool = {
    name: 'search_files',
    description:
      'Search the text files under a directory for a regular expression (JavaScript syntax), optionally only files matching a glob. Returns matching lines with paths and line numbers; capped in matches and time.',
    parameters: {
      type: 'object',
      properties: {
        pattern: { type: 'string', minLength: 1, maxLength: 1000 },
        path: pathArg,
        glob: { type: 'string', minLength: 1, maxLength: 200 },
        case_sensitive: { type: 'boolean' },
        max_matches: { type: 'integer', minimum: 1, maximum: 500 },
      },
      required: ['pattern'],
      additionalProperties: false,
    },
    effect: 'read',
    targets: target('path'),
    execute: (args, context) =>
      guarded(async (): Promise<ToolResult> => {
        const path = await allowed(context, args.path ?? '.');
        if (isResult(path)) return path;
        const dir = await files.dir(context.projectId);
        const start = await dir.stat(path);
        if (!start) throw new WorkspaceEntryNotFoundError(path);
        return searchWorkspace({
          root: dir.root,
          start: path,
          pattern: String(args.pattern),
          caseSensitive: args.case_sensitive !== false,
          glob: args.glob as string | undefined,
          maxMatches: (args.max_matches as number | undefined) ?? 100,
          maxFileBytes: files.limits.maxFileBytes,
          deniedPaths: context.deniedPaths,
          signal: context.signal,
        });
      }),
  };

  return [listFiles, readFile, searchFiles, writeFile, editFile, deleteFile, moveFile];
}
