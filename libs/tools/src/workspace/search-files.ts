import { Worker } from 'node:worker_threads';
import picomatch from 'picomatch';
import type { ToolResult } from '../tool';

/** A search stops after this long, with what it found so far. */
export const SEARCH_TIME_LIMIT_MS = 2_000;

export interface SearchRequest {
  /** The workspace root (real path) and the directory to search, relative to it. */
  root: string;
  start: string;
  pattern: string;
  caseSensitive: boolean;
  glob?: string;
  maxMatches: number;
  maxFileBytes: number;
  /** The project's own globs agents may not read. */
  deniedPaths: readonly string[];
  signal: AbortSignal;
}

/**
 * The search runs in a worker thread: a regular expression cannot be interrupted, so a
 * catastrophic one is stopped by terminating the thread at the time limit. The walk never follows
 * symlinks, skips what agents may not read (.git, .env*), binary and over-sized files, and checks
 * through /proc/self/fd that every file it opened is inside the workspace.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { root, start, pattern, flags, globSource, deniedSources, maxMatches, maxFileBytes } = workerData;
const re = new RegExp(pattern, flags);
const glob = globSource ? new RegExp(globSource) : null;
const projectDenied = deniedSources.map((source) => new RegExp(source));
const denied = (name, rel) =>
  /^\\.git$/i.test(name) || /^\\.env/i.test(name) || name.startsWith('.codelab-tmp-') ||
  projectDenied.some((r) => r.test(rel));
let found = 0;
let files = 0;
const stack = [start === '.' ? '' : start];
while (stack.length && found < maxMatches) {
  const rel = stack.pop();
  let entries;
  let base = rel;
  try {
    entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
  } catch (error) {
    // The start itself is a file: search it alone (as the one entry of its directory).
    if (rel !== start || error.code !== 'ENOTDIR') continue;
    const slash = rel.lastIndexOf('/');
    base = slash < 0 ? '' : rel.slice(0, slash);
    entries = fs.readdirSync(path.join(root, base), { withFileTypes: true })
      .filter((e) => e.name === rel.slice(slash + 1));
  }
  entries.sort((a, b) => (a.name < b.name ? 1 : -1));
  for (const entry of entries) {
    const child = base ? base + '/' + entry.name : entry.name;
    if (denied(entry.name, child)) continue;
    if (entry.isDirectory()) { stack.push(child); continue; }
    if (!entry.isFile() || (glob && !glob.test(child))) continue;
    let fd;
    try {
      fd = fs.openSync(path.join(root, child), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      const real = fs.readlinkSync('/proc/self/fd/' + fd);
      const inside = path.relative(root, real);
      const st = fs.fstatSync(fd);
      if (inside.startsWith('..') || path.isAbsolute(inside) || st.nlink > 1 || st.size > maxFileBytes) continue;
      const buf = fs.readFileSync(fd);
      if (buf.subarray(0, 8192).includes(0)) continue;
      files++;
      const lines = buf.toString('utf8').split('\\n');
      const matches = [];
      for (let i = 0; i < lines.length && found < maxMatches; i++) {
        re.lastIndex = 0;
        if (re.test(lines[i])) { found++; matches.push({ path: child, line: i + 1, text: lines[i].slice(0, 300) }); }
      }
      if (matches.length) parentPort.postMessage({ matches });
    } catch {} finally { if (fd !== undefined) fs.closeSync(fd); }
    if (found >= maxMatches) break;
  }
}
parentPort.postMessage({ done: true, files, truncated: found >= maxMatches });
`;

export async function searchWorkspace(request: SearchRequest): Promise<ToolResult> {
  let flags = request.caseSensitive ? '' : 'i';
  try {
    new RegExp(request.pattern, flags);
  } catch (error) {
    return { kind: 'error', code: 'INVALID_PATTERN', message: (error as Error).message };
  }
  flags += 'u';
  try {
    new RegExp(request.pattern, flags);
  } catch {
    flags = flags.replace('u', '');
  }
  const globSource = request.glob
    ? picomatch.makeRe(request.glob, { dot: true, basename: !request.glob.includes('/') }).source
    : null;
  const deniedSources = request.deniedPaths.map((g) => picomatch.makeRe(g, { dot: true }).source);
  const matches: { path: string; line: number; text: string }[] = [];
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      ...request,
      signal: undefined,
      deniedPaths: undefined,
      flags,
      globSource,
      deniedSources,
    },
    resourceLimits: { maxOldGenerationSizeMb: 256 },
  });
  return new Promise<ToolResult>((resolve) => {
    let settled = false;
    const finish = (extra: Record<string, unknown>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal.removeEventListener('abort', onAbort);
      void worker.terminate();
      resolve({
        kind: 'ok',
        output: { pattern: request.pattern, path: request.start, matches, ...extra },
      });
    };
    const timer = setTimeout(
      () => finish({ timed_out: true, truncated: true }),
      SEARCH_TIME_LIMIT_MS,
    );
    const onAbort = () => finish({ aborted: true, truncated: true });
    request.signal.addEventListener('abort', onAbort, { once: true });
    worker.on(
      'message',
      (message: {
        matches?: typeof matches;
        done?: boolean;
        files?: number;
        truncated?: boolean;
      }) => {
        if (message.matches) matches.push(...message.matches);
        if (message.done) finish({ files_searched: message.files, truncated: message.truncated });
      },
    );
    worker.on('error', (error) => finish({ error: error.message, truncated: true }));
    worker.on('exit', () => finish({ truncated: true }));
  });
}
