import { randomBytes } from 'node:crypto';
import { type BigIntStats, constants, type Dirent } from 'node:fs';
import {
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  rmdir,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import {
  PathEscapesWorkspaceError,
  WorkspaceConflictError,
  WorkspaceEntryNotFoundError,
  WorkspaceEntryTypeError,
} from '../workspace.errors';
import { baseName, parentOf } from './workspace-path';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW } = constants;

/** Temporary files of atomic writes; never listed, swept by age. */
export const TEMP_PREFIX = '.codelab-tmp-';

export type EntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface DirEntry {
  name: string;
  type: EntryType;
  stats: BigIntStats;
}

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** Opened directories are addressed through their descriptor, never by a path walked again. */
const at = (dir: FileHandle, name: string) => `/proc/self/fd/${dir.fd}/${name}`;

const typeOf = (s: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }) =>
  s.isFile() ? 'file' : s.isDirectory() ? 'directory' : s.isSymbolicLink() ? 'symlink' : 'other';

/**
 * Deletes `name` in the directory `parent` and everything below it, through descriptors: each
 * directory is opened O_NOFOLLOW and emptied by its descriptor, so one swapped for a symlink
 * mid-way is unlinked as a link, never followed. (fs.rm walks path strings: a subdirectory
 * swapped for a symlink between its lstat and its readdir has it delete the link target's files.)
 */
async function removeTree(parent: FileHandle, name: string, path: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = await open(at(parent, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch(
      (error: unknown) => {
        if (errno(error) === 'ENOENT') return 'gone' as const;
        if (errno(error) === 'ENOTDIR' || errno(error) === 'ELOOP') return null;
        throw error;
      },
    );
    if (dir === 'gone') return;
    if (dir === null) {
      // A file or a symlink (unlink never follows one).
      const removed = await unlink(at(parent, name)).then(
        () => true,
        (error: unknown) => {
          if (errno(error) === 'ENOENT') return true;
          if (errno(error) === 'EISDIR') return false; // Became a directory: go again.
          throw error;
        },
      );
      if (removed) return;
      continue;
    }
    try {
      for (const entry of await readdir(`/proc/self/fd/${dir.fd}`, { withFileTypes: true }))
        await removeTree(dir, entry.name, path);
    } finally {
      await dir.close();
    }
    const removed = await rmdir(at(parent, name)).then(
      () => true,
      (error: unknown) => {
        if (errno(error) === 'ENOENT') return true;
        // Swapped for a link or a file (unlinked next turn), or refilled meanwhile.
        if (['ENOTDIR', 'ENOTEMPTY', 'EEXIST'].includes(errno(error) ?? '')) return false;
        throw error;
      },
    );
    if (removed) return;
  }
  throw new WorkspaceConflictError(path, 'DIRECTORY_NOT_EMPTY');
}

/**
 * One project's workspace on disk, the filesystem half of the path resolver. A path (already
 * checked by checkWorkspacePath) is resolved by realpath of its deepest existing ancestor and
 * contained with path.relative (never a string prefix: CVE-2025-53110); then every operation walks
 * the resolved path again component by component from the root's descriptor, opening each with
 * O_NOFOLLOW through /proc/self/fd (openat semantics): a directory swapped for a symlink between
 * the check and the use fails instead of leading outside (CVE-2025-53109). The last component is
 * opened O_NOFOLLOW too; writes go to a temporary file in the same directory, then rename.
 * Linux only (/proc).
 */
export class WorkspaceDir {
  private constructor(readonly root: string) {}

  /** Creates the directory when missing; the root is realpath'ed once. */
  static async open(dir: string): Promise<WorkspaceDir> {
    await mkdir(dir, { recursive: true });
    return new WorkspaceDir(await realpath(dir));
  }

  /** Deletes a whole workspace directory (descriptor-relative, like remove); idempotent. */
  static async destroy(dir: string): Promise<void> {
    const parent = await open(dirname(dir), O_RDONLY | O_DIRECTORY).catch((error: unknown) => {
      if (errno(error) === 'ENOENT') return null;
      throw error;
    });
    if (!parent) return;
    try {
      await removeTree(parent, basename(dir), '.');
    } finally {
      await parent.close();
    }
  }

  /**
   * The real workspace-relative path of `path`: symlinks inside the workspace are followed
   * (except the last component when `followLast` is false: delete and move act on a link itself),
   * one pointing outside is refused. Components that do not exist yet are kept as given.
   */
  async resolve(path: string, followLast = true): Promise<string> {
    const segments = path === '.' ? [] : path.split('/');
    const last = followLast || segments.length === 0 ? undefined : segments.pop();
    let known = segments.length;
    let real: string | undefined;
    for (; known >= 0; known--) {
      try {
        real = await realpath(join(this.root, ...segments.slice(0, known)));
        break;
      } catch (error) {
        // A symlink loop (or a chain longer than the kernel follows) leads nowhere we can check.
        if (errno(error) === 'ELOOP')
          throw new PathEscapesWorkspaceError(path, 'passes through a symbolic link loop');
        if (errno(error) !== 'ENOENT' && errno(error) !== 'ENOTDIR') throw error;
      }
    }
    const inside = relative(this.root, real ?? this.root);
    if (inside === '..' || inside.startsWith('../') || isAbsolute(inside))
      throw new PathEscapesWorkspaceError(path);
    const resolved = [inside, ...segments.slice(known), ...(last === undefined ? [] : [last])]
      .filter((s) => s !== '' && s !== '.')
      .join('/');
    return resolved || '.';
  }

  /** Opens a directory by its resolved path, creating missing ones when asked. */
  async openDir(path: string, create = false): Promise<FileHandle> {
    let dir = await open(this.root, O_RDONLY | O_DIRECTORY);
    try {
      for (const segment of path === '.' ? [] : path.split('/')) {
        if (create)
          await mkdir(at(dir, segment)).catch((error: unknown) => {
            if (errno(error) !== 'EEXIST') throw error;
          });
        const next = await open(at(dir, segment), O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch(
          (error: unknown) => {
            throw this.mapOpenError(error, path);
          },
        );
        await dir.close();
        dir = next;
      }
      return dir;
    } catch (error) {
      await dir.close().catch(() => undefined);
      throw error;
    }
  }

  /** lstat of an entry by its resolved path, or null when it does not exist. */
  async stat(path: string): Promise<BigIntStats | null> {
    if (path === '.') return lstat(this.root, { bigint: true });
    const dir = await this.openDir(parentOf(path)).catch((error: unknown) => {
      if (error instanceof WorkspaceEntryNotFoundError) return null;
      throw error;
    });
    if (!dir) return null;
    try {
      return await lstat(at(dir, baseName(path)), { bigint: true });
    } catch (error) {
      if (errno(error) === 'ENOENT') return null;
      throw error;
    } finally {
      await dir.close();
    }
  }

  /** Opens a regular file for reading; never through a symlink, never a hard-linked inode. */
  async openFile(path: string): Promise<{ file: FileHandle; stats: BigIntStats }> {
    const dir = await this.openDir(parentOf(path));
    let file: FileHandle;
    try {
      file = await open(at(dir, baseName(path)), O_RDONLY | O_NOFOLLOW).catch((error: unknown) => {
        throw this.mapOpenError(error, path);
      });
    } finally {
      await dir.close();
    }
    const stats = await file.stat({ bigint: true });
    if (!stats.isFile()) {
      await file.close();
      throw new WorkspaceEntryTypeError(path, 'file');
    }
    // Another name for this inode may live outside the workspace: its content is not ours to show.
    if (stats.nlink > 1n) {
      await file.close();
      throw new PathEscapesWorkspaceError(path, 'is a hard link (more than one name)');
    }
    return { file, stats };
  }

  /** Lists a directory: names with lstat (symlinks are reported, never followed). */
  async list(path: string): Promise<DirEntry[]> {
    const dir = await this.openDir(path);
    try {
      const names: Dirent[] = await readdir(`/proc/self/fd/${dir.fd}`, { withFileTypes: true });
      const entries: DirEntry[] = [];
      for (const entry of names) {
        if (entry.name.startsWith(TEMP_PREFIX)) continue;
        const stats = await lstat(at(dir, entry.name), { bigint: true }).catch(() => null);
        if (stats) entries.push({ name: entry.name, type: typeOf(stats), stats });
      }
      return entries;
    } finally {
      await dir.close();
    }
  }

  /**
   * Writes a whole file atomically: a temporary file in the same directory, then rename (which
   * replaces a symlink at the target rather than following it). Missing parents are created.
   */
  async writeAtomic(path: string, data: Buffer): Promise<BigIntStats> {
    if (path === '.') throw new WorkspaceEntryTypeError(path, 'file');
    const dir = await this.openDir(parentOf(path), true);
    const temp = `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
    try {
      const file = await open(at(dir, temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
      try {
        await file.writeFile(data);
      } finally {
        await file.close();
      }
      try {
        await rename(at(dir, temp), at(dir, baseName(path)));
      } catch (error) {
        await unlink(at(dir, temp)).catch(() => undefined);
        if (errno(error) === 'EISDIR' || errno(error) === 'ENOTEMPTY')
          throw new WorkspaceEntryTypeError(path, 'file');
        throw error;
      }
      return await lstat(at(dir, baseName(path)), { bigint: true });
    } finally {
      await dir.close();
    }
  }

  /** Removes a file, a symlink (never its target) or a directory (recursive when asked). */
  async remove(path: string, recursive: boolean): Promise<void> {
    if (path === '.') throw new WorkspaceEntryTypeError(path, 'file');
    const dir = await this.openDir(parentOf(path));
    try {
      const target = at(dir, baseName(path));
      const stats = await lstat(target).catch(() => null);
      if (!stats) throw new WorkspaceEntryNotFoundError(path);
      if (!stats.isDirectory()) return await unlink(target);
      if (recursive) return await removeTree(dir, baseName(path), path);
      await rmdir(target).catch((error: unknown) => {
        if (errno(error) === 'ENOTEMPTY' || errno(error) === 'EEXIST')
          throw new WorkspaceConflictError(path, 'DIRECTORY_NOT_EMPTY');
        throw error;
      });
    } finally {
      await dir.close();
    }
  }

  /**
   * Moves an entry; never over an existing one. A file moves by link + unlink (atomic, and
   * refuses an existing target by itself); a directory by rename after a check.
   */
  async move(from: string, to: string): Promise<void> {
    const source = await this.openDir(parentOf(from));
    try {
      const target = await this.openDir(parentOf(to), true);
      try {
        const src = at(source, baseName(from));
        const dst = at(target, baseName(to));
        const stats = await lstat(src).catch(() => null);
        if (!stats) throw new WorkspaceEntryNotFoundError(from);
        const exists = (error: unknown) => {
          if (errno(error) === 'EEXIST' || errno(error) === 'ENOTEMPTY')
            throw new WorkspaceConflictError(to, 'ALREADY_EXISTS');
          throw error;
        };
        if (stats.isDirectory()) {
          if (`${to}/`.startsWith(`${from}/`))
            throw new WorkspaceConflictError(to, 'ALREADY_EXISTS');
          if (await lstat(dst).catch(() => null))
            throw new WorkspaceConflictError(to, 'ALREADY_EXISTS');
          await rename(src, dst).catch(exists);
        } else {
          await link(src, dst).catch(exists);
          await unlink(src);
        }
      } finally {
        await target.close();
      }
    } finally {
      await source.close();
    }
  }

  /** Walks the whole tree (lstat, symlinks not followed): what the quotas count. */
  async usage(): Promise<{ bytes: number; files: number }> {
    let bytes = 0;
    let files = 0;
    // Through descriptors, like every other walk: a directory swapped for a symlink mid-walk is
    // not entered (O_NOFOLLOW), so the count never wanders outside.
    const walk = async (dir: FileHandle): Promise<void> => {
      const entries = await readdir(`/proc/self/fd/${dir.fd}`, { withFileTypes: true }).catch(
        () => [],
      );
      for (const entry of entries) {
        if (entry.isDirectory()) {
          const child = await open(at(dir, entry.name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch(
            () => null,
          );
          if (!child) continue;
          try {
            await walk(child);
          } finally {
            await child.close();
          }
        } else {
          files++;
          if (entry.isFile())
            bytes += (await lstat(at(dir, entry.name)).catch(() => ({ size: 0 }))).size;
        }
      }
    };
    const root = await open(this.root, O_RDONLY | O_DIRECTORY);
    try {
      await walk(root);
    } finally {
      await root.close();
    }
    return { bytes, files };
  }

  private mapOpenError(error: unknown, path: string): Error {
    switch (errno(error)) {
      case 'ENOENT':
        return new WorkspaceEntryNotFoundError(path);
      case 'ELOOP':
        // A symlink where a real entry was resolved a moment ago: swapped, or a link itself.
        return new PathEscapesWorkspaceError(path, 'is (or passes through) a symbolic link');
      case 'ENOTDIR':
        return new WorkspaceEntryTypeError(path, 'directory');
      case 'EISDIR':
        return new WorkspaceEntryTypeError(path, 'file');
      default:
        return error as Error;
    }
  }
}
