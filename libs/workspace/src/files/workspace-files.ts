import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';
import { APP_CONFIG, type AppConfig, crashPoint, InvalidCursorError } from '@codelab/platform';
import { type EntryType, WorkspaceDir } from '../paths/workspace-dir';
import { checkWorkspacePath, joinPath } from '../paths/workspace-path';
import {
  WorkspaceEntryTypeError,
  WorkspacePreconditionFailedError,
  WorkspaceQuotaExceededError,
} from '../workspace.errors';
import { WORKSPACE_BYTES, WORKSPACE_WRITES } from '../workspace.metrics';

export interface WorkspaceEntry {
  name: string;
  path: string;
  type: EntryType;
  size: number;
  /** Files only (computed per page, cached by inode and modification time). */
  sha256: string | null;
  modifiedAt: Date;
}

export interface WorkspaceFile {
  path: string;
  content: Buffer;
  sha256: string;
  size: number;
  modifiedAt: Date;
}

export interface WrittenFile {
  path: string;
  sha256: string;
  size: number;
  created: boolean;
}

/**
 * undefined: write whatever is there; null: only if nothing is there (create-only); a digest:
 * only over exactly that version (optimistic concurrency: If-Match, expected_sha256).
 */
export type ExpectedVersion = string | null | undefined;

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

const MAX_HASH_CACHE = 20_000;

/** A directory page's position: the last name seen (entries sort by their bytes). */
const encodeNameCursor = (name: string) => Buffer.from(`n:${name}`).toString('base64url');
function decodeNameCursor(raw: string): Buffer {
  const decoded = Buffer.from(raw, 'base64url');
  if (decoded.subarray(0, 2).toString() !== 'n:' || decoded.length < 3)
    throw new InvalidCursorError();
  return decoded.subarray(2);
}

/**
 * The project workspaces: one directory per project under WORKSPACES_DIR, created on first use,
 * removed with the project. Every path goes through the one resolver (checkWorkspacePath, then
 * WorkspaceDir). Changes to one workspace are serialised across processes by a PostgreSQL
 * advisory lock, so quota checks and If-Match hold against concurrent writers (REST and agents).
 */
@Injectable()
export class WorkspaceFiles {
  private readonly hashes = new Map<string, string>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly em: EntityManager,
    @InjectMetric(WORKSPACE_WRITES) private readonly writes: Counter<string>,
    @InjectMetric(WORKSPACE_BYTES) private readonly sizes: Histogram<string>,
  ) {}

  get limits() {
    return this.config.workspace;
  }

  /** The workspace directory of a project (callers have checked ownership). */
  dir(projectId: string): Promise<WorkspaceDir> {
    return WorkspaceDir.open(join(this.config.workspace.dir, projectId));
  }

  /** A user- or model-given path, checked and resolved: the real path inside the workspace. */
  async resolve(projectId: string, raw: unknown, field = 'path', followLast = true) {
    return (await this.dir(projectId)).resolve(checkWorkspacePath(raw, field), followLast);
  }

  /** One page of a directory, by name (byte order); the cursor is the last name seen. */
  async list(
    projectId: string,
    raw: unknown,
    page: { cursor?: string; limit: number },
  ): Promise<{ path: string; items: WorkspaceEntry[]; nextCursor: string | null }> {
    const dir = await this.dir(projectId);
    const path = await dir.resolve(checkWorkspacePath(raw));
    const after = page.cursor ? decodeNameCursor(page.cursor) : undefined;
    const entries = (await dir.list(path))
      .map((e) => ({ ...e, key: Buffer.from(e.name) }))
      .filter((e) => after === undefined || Buffer.compare(e.key, after) > 0)
      .sort((a, b) => Buffer.compare(a.key, b.key));
    const slice = entries.slice(0, page.limit);
    const items = await Promise.all(
      slice.map(async (e) => ({
        name: e.name,
        path: joinPath(path, e.name),
        type: e.type,
        size: Number(e.stats.size),
        // A file whose content cannot be shown (a hard link) is listed without a digest.
        sha256:
          e.type === 'file'
            ? await this.hashOf(dir, joinPath(path, e.name), e.stats).catch(() => null)
            : null,
        modifiedAt: new Date(Number(e.stats.mtimeMs)),
      })),
    );
    const last = slice.at(-1);
    return {
      path,
      items,
      nextCursor: entries.length > page.limit && last ? encodeNameCursor(last.name) : null,
    };
  }

  async read(projectId: string, raw: unknown): Promise<WorkspaceFile> {
    const dir = await this.dir(projectId);
    const path = await dir.resolve(checkWorkspacePath(raw));
    const { file, stats } = await dir.openFile(path);
    try {
      if (stats.size > BigInt(this.limits.maxFileBytes) * 16n)
        throw new WorkspaceQuotaExceededError(`"${path}" is too large to read`, { path });
      const content = await file.readFile();
      const digest = sha256(content);
      this.hashes.set(this.hashKey(dir, path, stats), digest);
      return {
        path,
        content,
        sha256: digest,
        size: content.length,
        modifiedAt: new Date(Number(stats.mtimeMs)),
      };
    } finally {
      await file.close();
    }
  }

  /** The current version of a file: its sha256, or null when there is no file. */
  async versionOf(projectId: string, path: string): Promise<string | null> {
    const dir = await this.dir(projectId);
    const stats = await dir.stat(path);
    if (!stats) return null;
    if (!stats.isFile()) throw new WorkspaceEntryTypeError(path, 'file');
    return this.hashOf(dir, path, stats);
  }

  /**
   * Writes a whole file (atomically) if `expected` holds and the quotas allow it. `path` is
   * resolved first (pass `resolved: true` when it already is).
   */
  async write(
    projectId: string,
    raw: unknown,
    content: Buffer,
    expected: ExpectedVersion = undefined,
    options: { resolved?: boolean } = {},
  ): Promise<WrittenFile> {
    const dir = await this.dir(projectId);
    const path = options.resolved ? String(raw) : await dir.resolve(checkWorkspacePath(raw));
    if (content.length > this.limits.maxFileBytes)
      throw new WorkspaceQuotaExceededError(
        `A file may hold at most ${this.limits.maxFileBytes} bytes (got ${content.length})`,
        { path, limit_bytes: this.limits.maxFileBytes },
      );
    return this.locked(projectId, async () => {
      const before = await dir.stat(path);
      if (before && !before.isFile()) throw new WorkspaceEntryTypeError(path, 'file');
      const current = before ? await this.hashOf(dir, path, before) : null;
      this.checkExpected(path, expected, current);
      const usage = await dir.usage();
      const bytes = usage.bytes - Number(before?.size ?? 0n) + content.length;
      if (bytes > this.limits.maxTotalBytes)
        throw new WorkspaceQuotaExceededError(
          `The workspace would hold ${bytes} bytes, over its ${this.limits.maxTotalBytes}`,
          { path, limit_bytes: this.limits.maxTotalBytes, used_bytes: usage.bytes },
        );
      if (!before && usage.files + 1 > this.limits.maxFiles)
        throw new WorkspaceQuotaExceededError(
          `The workspace already holds ${usage.files} files, its limit`,
          { path, limit_files: this.limits.maxFiles },
        );
      crashPoint('workspace:before-write');
      const stats = await dir.writeAtomic(path, content);
      crashPoint('workspace:written');
      const digest = sha256(content);
      this.hashes.set(this.hashKey(dir, path, stats), digest);
      this.writes.inc({ op: 'write' });
      this.sizes.observe(bytes);
      return { path, sha256: digest, size: content.length, created: !before };
    });
  }

  /** Deletes a file or directory (a symlink itself, never its target). */
  async remove(
    projectId: string,
    raw: unknown,
    options: { recursive?: boolean; expected?: ExpectedVersion; resolved?: boolean } = {},
  ): Promise<{ path: string }> {
    const dir = await this.dir(projectId);
    const path = options.resolved ? String(raw) : await dir.resolve(checkWorkspacePath(raw), false);
    return this.locked(projectId, async () => {
      if (options.expected !== undefined) {
        const stats = await dir.stat(path);
        this.checkExpected(
          path,
          options.expected,
          stats?.isFile() ? await this.hashOf(dir, path, stats) : null,
        );
      }
      await dir.remove(path, options.recursive ?? false);
      this.writes.inc({ op: 'delete' });
      return { path };
    });
  }

  /** Moves a file or directory; never over an existing entry. */
  async move(
    projectId: string,
    rawFrom: unknown,
    rawTo: unknown,
    options: { resolved?: boolean } = {},
  ): Promise<{ from: string; to: string }> {
    const dir = await this.dir(projectId);
    const from = options.resolved
      ? String(rawFrom)
      : await dir.resolve(checkWorkspacePath(rawFrom, 'from'), false);
    const to = options.resolved
      ? String(rawTo)
      : await dir.resolve(checkWorkspacePath(rawTo, 'to'), false);
    if (from === '.') throw new WorkspaceEntryTypeError(from, 'file');
    return this.locked(projectId, async () => {
      await dir.move(from, to);
      this.writes.inc({ op: 'move' });
      return { from, to };
    });
  }

  /** The project is gone: its files go too (idempotent). */
  async removeWorkspace(projectId: string): Promise<void> {
    await WorkspaceDir.destroy(join(this.config.workspace.dir, projectId));
  }

  async usage(projectId: string) {
    return (await this.dir(projectId)).usage();
  }

  private checkExpected(path: string, expected: ExpectedVersion, current: string | null): void {
    if (expected === undefined) return;
    if (expected === null ? current !== null : current !== expected)
      throw new WorkspacePreconditionFailedError(path, expected, current);
  }

  /** Serialises changes to one workspace across processes (PostgreSQL advisory lock). */
  private locked<T>(projectId: string, work: () => Promise<T>): Promise<T> {
    return this.em.fork().transactional(async (tx) => {
      await tx
        .getConnection()
        .execute(
          'select pg_advisory_xact_lock(hashtextextended(?, 0))',
          [`workspace:${projectId}`],
          'all',
          tx.getTransactionContext(),
        );
      return work();
    });
  }

  private hashKey(dir: WorkspaceDir, path: string, s: BigIntStats): string {
    return `${dir.root}/${path}:${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  }

  private async hashOf(dir: WorkspaceDir, path: string, stats: BigIntStats): Promise<string> {
    const key = this.hashKey(dir, path, stats);
    const cached = this.hashes.get(key);
    if (cached) return cached;
    const { file } = await dir.openFile(path);
    try {
      const digest = sha256(await file.readFile());
      if (this.hashes.size >= MAX_HASH_CACHE) this.hashes.delete(this.hashes.keys().next().value!);
      this.hashes.set(key, digest);
      return digest;
    } finally {
      await file.close();
    }
  }
}
