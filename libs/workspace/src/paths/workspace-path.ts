import picomatch from 'picomatch';
import { InvalidWorkspacePathError } from '../workspace.errors';

export const MAX_PATH_BYTES = 1024;
export const MAX_SEGMENT_BYTES = 255;

// C0 controls, DEL and C1 controls: never part of a name anyone types on purpose.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Characters that read as a slash or a backslash (fullwidth, division slash, fraction slash...). */
const SEPARATOR_LOOKALIKES = /[\u2044\u2215\u29f5\u29f8\u29f9\uff0f\uff3c\ufe68]/;

/**
 * The lexical half of the one path resolver (REST and tools alike): a workspace path is relative,
 * uses forward slashes, has no `..`, no NUL or control characters, and fits the length limits.
 * Returns it normalised (`a/b`, `.` for the root). What it points at on disk (symlinks) is the
 * other half, WorkspaceDir.resolve.
 */
export function checkWorkspacePath(raw: unknown, field = 'path'): string {
  const invalid = (reason: string) => new InvalidWorkspacePathError(field, reason);
  if (typeof raw !== 'string') throw invalid('must be a string');
  if (raw.length === 0) throw invalid('must not be empty');
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES)
    throw invalid(`is longer than ${MAX_PATH_BYTES} bytes`);
  if (raw.includes('\0')) throw invalid('contains a NUL byte');
  if (CONTROL.test(raw)) throw invalid('contains a control character');
  if (raw.includes('\\')) throw invalid('must use forward slashes');
  if (SEPARATOR_LOOKALIKES.test(raw)) throw invalid('contains a character that looks like a slash');
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw) || raw.startsWith('~'))
    throw invalid('must be relative to the workspace root');
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  for (const segment of segments) {
    // Compatibility forms ("．．", "‥") would become ".." wherever something normalises them.
    const folded = segment.normalize('NFKC');
    if (segment === '..' || folded === '..' || folded === '.' || folded.includes('/'))
      throw invalid('must not contain ".." segments');
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES)
      throw invalid(`has a name longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
  return segments.length ? segments.join('/') : '.';
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '.' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '.' ? name : `${dir}/${name}`;
}

/**
 * Never for agents, whatever their policy says: version control internals and environment files
 * (secrets). Matched against resolved paths. The REST API (the user) is not limited by it.
 */
export const AGENT_DENIED_PATHS: readonly string[] = [
  '.git',
  '.git/**',
  '**/.git',
  '**/.git/**',
  '.env*',
  '**/.env*',
  '**/.env*/**',
];
const deniedMatcher = picomatch(AGENT_DENIED_PATHS as string[], { dot: true, nocase: true });

const projectMatchers = new Map<string, (path: string) => boolean>();

/** Whether agents must not touch `path`: always .git and .env*, plus the project's own globs. */
export function isDeniedToAgents(path: string, projectGlobs: readonly string[] = []): boolean {
  if (path === '.') return false;
  if (deniedMatcher(path)) return true;
  if (projectGlobs.length === 0) return false;
  const key = projectGlobs.join('\0');
  let matcher = projectMatchers.get(key);
  if (!matcher) {
    if (projectMatchers.size > 1000) projectMatchers.clear();
    matcher = picomatch(projectGlobs as string[], { dot: true });
    projectMatchers.set(key, matcher);
  }
  // A denied directory denies everything below it.
  return path.split('/').some((_, i, parts) => matcher(parts.slice(0, i + 1).join('/')));
}
