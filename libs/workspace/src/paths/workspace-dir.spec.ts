import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DomainError } from '@codelab/platform';
import { WorkspaceDir } from './workspace-dir';
import { checkWorkspacePath, MAX_PATH_BYTES, MAX_SEGMENT_BYTES } from './workspace-path';

/**
 * The path resolver against hostile paths, on a real filesystem (no mocks): a table of traversal
 * payloads through checkWorkspacePath + WorkspaceDir for every operation that takes a path, and
 * races where another thread swaps a directory of the workspace for a symlink to the outside
 * while the main thread writes, reads or deletes through it. The outside trees (a sibling of the
 * workspace, a prefix-named sibling, a separate temp dir) hold canaries whose content and names
 * carry a unique marker; an "escape" is any change to them, or the marker showing up in what an
 * operation returned. Runs as root in CI, so nothing destructive ever targets a path we do not own.
 */

const MARKER = `CANARY-${randomBytes(12).toString('hex')}`;
const CANARY = Buffer.from(`${MARKER} outside secret\n`);

/** One line of figures on stdout (like FAULT-METRICS), printed before asserting. */
const report = (line: string) => process.stdout.write(`TRAVERSAL-METRICS ${line}\n`);

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const code = (error: unknown) => (error as NodeJS.ErrnoException).code;
const isInside = (root: string, abs: string) => {
  const rel = relative(root, abs);
  return rel === '' || (rel !== '..' && !rel.startsWith('../') && !isAbsolute(rel));
};

/** Everything under `root` (symlinks not followed): type, size, mtime, content digest, target. */
type Tree = Map<string, string>;
function snapshot(root: string, skip: ReadonlySet<string> = new Set()): Tree {
  const tree: Tree = new Map();
  const walk = (abs: string, rel: string): void => {
    const s = lstatSync(abs, { bigint: true });
    let what = s.isFile()
      ? `file ${s.size} ${s.mtimeNs} ${sha(readFileSync(abs))}`
      : s.isSymbolicLink()
        ? `symlink -> ${readlinkSync(abs)}`
        : s.isDirectory()
          ? 'dir'
          : 'other';
    // A root's own mtime moves when a test rebuilds a workspace inside it; its entries are listed.
    if (s.isDirectory() && rel !== '') what += ` ${s.mtimeNs}`;
    tree.set(rel || '.', what);
    if (!s.isDirectory()) return;
    for (const name of readdirSync(abs).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      if (!skip.has(child)) walk(join(abs, name), child);
    }
  };
  walk(root, '');
  return tree;
}

function diff(label: string, before: Tree, after: Tree): string[] {
  const changes: string[] = [];
  for (const [path, what] of after) {
    const was = before.get(path);
    if (was === undefined) changes.push(`${label}/${path}: created (${what})`);
    else if (was !== what) changes.push(`${label}/${path}: changed (${was} => ${what})`);
  }
  for (const path of before.keys()) if (!after.has(path)) changes.push(`${label}/${path}: removed`);
  return changes;
}

/** Waits for a condition with a deadline (polling, never a fixed sleep). */
async function until(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

interface Layout {
  /** The temp root of the test: holds the workspace and its outside siblings. */
  base: string;
  ws: string;
  /** Sibling of the workspace with canaries (same filesystem: hard links work). */
  outside: string;
  /** Sibling whose name starts with the workspace's (string-prefix containment, CVE-2025-53110). */
  evil: string;
  /** A separate temp dir of ours, elsewhere under the system temp dir. */
  tmp: string;
}

async function createLayout(): Promise<Layout> {
  const base = await realpath(await mkdtemp(join(tmpdir(), 'codelab-wsdir-')));
  const tmp = await realpath(await mkdtemp(join(tmpdir(), 'codelab-wsdir-out-')));
  const layout = {
    base,
    ws: join(base, 'ws'),
    outside: join(base, 'outside'),
    evil: join(base, 'ws-evil'),
    tmp,
  };
  for (const dir of [layout.outside, layout.evil, tmp]) {
    await mkdir(join(dir, 'secret'), { recursive: true });
    await writeFile(join(dir, 'canary.txt'), CANARY);
    await writeFile(join(dir, 'secret', 'canary.txt'), CANARY);
    await writeFile(join(dir, `${MARKER}.name`), CANARY);
  }
  await writeFile(join(layout.outside, 'hard-canary.txt'), CANARY);
  return layout;
}

async function removeLayout(layout: Layout | undefined): Promise<void> {
  if (!layout) return;
  await rm(layout.base, { recursive: true, force: true });
  await rm(layout.tmp, { recursive: true, force: true });
}

type Entry = { path: string } & (
  | { kind: 'dir' }
  | { kind: 'file'; content: string }
  | { kind: 'symlink'; target: string }
  | { kind: 'hardlink'; target: string }
);

/** The workspace payloads run against: symlinks out (and in), a hard link out, odd names. */
function workspaceEntries(l: Layout): Entry[] {
  const entries: Entry[] = [];
  const dir = (path: string) => entries.push({ kind: 'dir', path });
  const file = (path: string, content: string) => entries.push({ kind: 'file', path, content });
  const sym = (path: string, target: string) => entries.push({ kind: 'symlink', path, target });
  for (const d of ['sub', '..foo', 'deep', 'deep/a', 'deep/a/b', 'hl', 'holder', '.git']) dir(d);
  dir('holder/inner');
  file('ok.txt', 'inside ok\n');
  file('victim.txt', 'victim\n');
  file('sub/inner.txt', 'inner\n');
  file('..foo/x.txt', 'dot dot foo\n');
  file('holder/inner/keep.txt', 'keep\n');
  file('.git/config', '[core]\n');
  sym('out-abs', l.outside);
  sym('out-rel', '../outside');
  sym('out-file', join(l.outside, 'canary.txt'));
  sym('out-file-rel', '../outside/canary.txt');
  sym('out-up', '..');
  sym('evil', '../ws-evil');
  sym('evil-abs', l.evil);
  sym('chain1', 'chain2');
  sym('chain2', 'chain3');
  sym('chain3', '../outside');
  sym('slash', '/');
  sym('tmp-out', l.tmp);
  sym('tmp-file', join(l.tmp, 'canary.txt'));
  sym('in-link', 'sub');
  sym('in-up', 'sub/..');
  sym('dangling-out', '../outside/new-file.txt');
  sym('dangling-dir', '../outside/new-dir');
  sym('dangling-abs', join(l.tmp, 'new-dir'));
  sym('loop1', 'loop2');
  sym('loop2', 'loop1');
  sym('self', 'self');
  // Longer than the 40 links the kernel and realpath follow.
  for (let i = 0; i < 45; i++) sym(`c${i}`, i === 44 ? 'sub' : `c${i + 1}`);
  // Expands to more than PATH_MAX when followed a few times.
  sym('dots', './'.repeat(2000));
  sym('deep/a/b/up', '../../../../outside');
  sym('holder/link-out', '../../outside');
  sym('holder/link-file', '../../outside/canary.txt');
  entries.push({
    kind: 'hardlink',
    path: 'hl/hard.txt',
    target: join(l.outside, 'hard-canary.txt'),
  });
  return entries;
}

function createEntries(root: string, entries: Entry[]): void {
  mkdirSync(root, { recursive: true });
  for (const e of entries) {
    const abs = join(root, e.path);
    if (e.kind === 'dir') mkdirSync(abs);
    else if (e.kind === 'file') writeFileSync(abs, e.content);
    else if (e.kind === 'symlink') symlinkSync(e.target, abs);
    else linkSync(e.target, abs);
  }
}

/** What the inside holds, mtimes aside: tells which top-level entries an operation changed. */
function insideState(root: string): Tree {
  const tree: Tree = new Map();
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs)) {
      const child = rel ? `${rel}/${name}` : name;
      const s = lstatSync(join(abs, name));
      if (s.isDirectory()) {
        tree.set(child, 'dir');
        walk(join(abs, name), child);
      } else if (s.isSymbolicLink()) tree.set(child, `-> ${readlinkSync(join(abs, name))}`);
      else tree.set(child, `${s.nlink} ${sha(readFileSync(join(abs, name)))}`);
    }
  };
  walk(root, '');
  return tree;
}

/**
 * A fresh workspace for the next payload: recreates only the top-level entries the last one
 * changed (creating ~80 symlinks per payload is slow on some disks). Never follows a link.
 */
function repairWorkspace(root: string, entries: Entry[], reference: Tree): void {
  const now = insideState(root);
  const dirty = new Set<string>();
  for (const key of new Set([...now.keys(), ...reference.keys()]))
    if (now.get(key) !== reference.get(key)) dirty.add(key.split('/')[0]);
  for (const name of dirty) {
    const abs = join(root, name);
    const s = lstatSync(abs, { throwIfNoEntry: false });
    if (s?.isDirectory()) rmSync(abs, { recursive: true });
    else if (s) rmSync(abs);
    for (const e of entries) if (e.path.split('/')[0] === name) createEntries(root, [e]);
  }
}

interface Payload {
  label: string;
  path: string;
  /** Points at real system files: only read and list (we run as root). */
  readOnly?: boolean;
}

/** The hostile paths (as decoded strings: what a tool argument or a decoded query holds). */
function payloads(l: Layout): Payload[] {
  const tmpRel = l.tmp.slice(1);
  const p = (label: string, path: string, readOnly = false): Payload => ({
    label,
    path,
    readOnly,
  });
  return [
    // Plain and dressed-up "..".
    p('dot-dot', '..'),
    p('dot-dot slash', '../'),
    p('parent canary', '../outside/canary.txt'),
    p('into the prefix sibling', '../ws-evil/canary.txt'),
    p('down then up', 'sub/../../outside/canary.txt'),
    p('dot slash dot-dot', './../outside/canary.txt'),
    p('foo/..', 'foo/..'),
    p('foo/../..', 'foo/../..'),
    p('double slashes', '..//outside//canary.txt'),
    p('leading double slash', '//../outside/canary.txt'),
    p('trailing dot', '../outside/canary.txt/.'),
    p('dot segments mixed', 'sub/./../../outside/canary.txt'),
    p('dot-dot-foo dir then up', '..foo/../../outside/canary.txt'),
    p('through in-link then up', 'in-link/../../outside/canary.txt'),
    // Encoded forms (literal here: nothing below the HTTP layer decodes).
    p('percent dot-dot slash', '%2e%2e%2foutside%2fcanary.txt'),
    p('percent dot-dot', '%2e%2e/outside/canary.txt'),
    p('dot-dot %2f', '..%2foutside%2fcanary.txt'),
    p('double-encoded', '%252e%252e%252foutside'),
    p('encoded backslash', '..%5coutside%5ccanary.txt'),
    p('overlong UTF-8 dots', '%c0%ae%c0%ae/outside/canary.txt'),
    p('encoded NUL', 'ok.txt%00../../outside/canary.txt'),
    // Separators.
    p('backslashes', '..\\outside\\canary.txt'),
    p('mixed separators', '..\\/outside/canary.txt'),
    p('backslash traversal', 'sub\\..\\..\\outside\\canary.txt'),
    p('UNC', '\\\\server\\share\\canary.txt'),
    // Unicode look-alikes.
    p('fullwidth full stops', '\uff0e\uff0e/outside/canary.txt'),
    p('two dot leader', '\u2025/outside/canary.txt'),
    p('one dot leaders', '\u2024\u2024/outside/canary.txt'),
    p('small full stops', '\ufe52\ufe52/outside/canary.txt'),
    p('vertical two dot leader', '\ufe30/outside/canary.txt'),
    p('division slash', '..\u2215outside\u2215canary.txt'),
    p('fullwidth solidus', '..\uff0foutside\uff0fcanary.txt'),
    p('fullwidth reverse solidus', '..\uff3coutside\uff3ccanary.txt'),
    p('fraction slash', '..\u2044outside\u2044canary.txt'),
    p('small reverse solidus', '..\ufe68outside'),
    p('fullwidth dots and solidus', '\uff0e\uff0e\uff0foutside'),
    p('zero-width space after dots', '..\u200b/outside/canary.txt'),
    p('soft hyphen after dots', '..\u00ad/outside/canary.txt'),
    p('combining dot', '.\u0307./outside/canary.txt'),
    p('right-to-left override', '\u202e../outside/canary.txt'),
    // Absolute, home, drives, URLs.
    p('absolute /etc/passwd', '/etc/passwd', true),
    p('absolute to our canary', join(l.outside, 'canary.txt')),
    p('double-slash absolute', `/${join(l.tmp, 'canary.txt')}`),
    p('home', '~/.bashrc'),
    p('home of root', '~root/.ssh/authorized_keys'),
    p('drive backslash', 'C:\\Windows\\win.ini'),
    p('drive slash', 'C:/Windows/win.ini'),
    p('file URL', `file://${join(l.tmp, 'canary.txt')}`),
    // Control characters and lengths.
    p('raw NUL', 'ok.txt\u0000../../outside/canary.txt'),
    p('tab', '..\t/outside'),
    p('newline', 'ok.txt\n../../outside'),
    p('C1 next line', '..\u0085/outside'),
    p('DEL', '..\u007f/outside'),
    p('1025 bytes', 'a/'.repeat(512) + 'b'),
    p('256-byte segment', 'x'.repeat(MAX_SEGMENT_BYTES + 1)),
    p('256-byte multibyte segment', '\u00e9'.repeat(128)),
    p('1024 bytes, valid', `${'y'.repeat(255)}/`.repeat(4).slice(0, MAX_PATH_BYTES - 4) + '.txt'),
    // Symlinks to the outside (absolute, relative, chains, "/", dangling, loops).
    p('abs dir link', 'out-abs/canary.txt'),
    p('abs dir link itself', 'out-abs'),
    p('abs dir link, nested', 'out-abs/secret/canary.txt'),
    p('rel dir link', 'out-rel/canary.txt'),
    p('rel dir link itself', 'out-rel'),
    p('abs file link', 'out-file'),
    p('rel file link', 'out-file-rel'),
    p('link to ..', 'out-up/outside/canary.txt'),
    p('link to .. itself', 'out-up'),
    p('link to the prefix sibling', 'evil/canary.txt'),
    p('abs link to the prefix sibling', 'evil-abs/canary.txt'),
    p('symlink chain', 'chain1/canary.txt'),
    p('symlink chain itself', 'chain1'),
    p('link to / (system file)', 'slash/etc/passwd', true),
    p('link to / itself', 'slash', true),
    p('link to / then our tmp', `slash/${tmpRel}/canary.txt`),
    p('link to / then our tmp dir', `slash/${tmpRel}/secret`),
    p('link to tmp', 'tmp-out/canary.txt'),
    p('file link to tmp', 'tmp-file'),
    p('nested relative link', 'deep/a/b/up/canary.txt'),
    p('nested relative link itself', 'deep/a/b/up'),
    p('dangling file link out', 'dangling-out'),
    p('dangling dir link out', 'dangling-dir/x.txt'),
    p('dangling abs dir link', 'dangling-abs/x.txt'),
    p('symlink loop', 'loop1'),
    p('through a symlink loop', 'loop1/x.txt'),
    p('self loop', 'self/x.txt'),
    p('45-link chain', 'c0/inner.txt'),
    p('PATH_MAX expansion', 'dots/dots/dots/x.txt'),
    p('dir holding links out', 'holder'),
    p('link inside a dir', 'holder/link-out/canary.txt'),
    // Hard link to an outside file.
    p('hard link', 'hl/hard.txt'),
    p('dir with a hard link', 'hl'),
    // Legit names that only look suspicious (must stay inside when accepted).
    p('dir named ..foo', '..foo/x.txt'),
    p('three dots', '.../x.txt'),
    p('dot-dot space', '.. /outside/canary.txt'),
    p('trailing dot on a link name', 'out-abs./canary.txt'),
    p('trailing space', 'ok.txt '),
    p('link inside, back to root', 'in-up/ok.txt'),
    p('inside link', 'in-link/inner.txt'),
    p('file as a dir', 'ok.txt/x'),
    // Case games (Linux is case-sensitive: other names, inside).
    p('.GIT', '.GIT/config'),
    p('.Env', '.Env'),
    p('upper-case link name', 'OUT-ABS/canary.txt'),
    p('upper-case traversal', 'SRC/../../outside/canary.txt'),
    // The root and empties.
    p('root', '.'),
    p('root slash', './'),
    p('empty', ''),
    p('only slashes', '//'),
  ];
}

const OPS = ['read', 'write', 'list', 'remove', 'move-from', 'move-to'] as const;
type Op = (typeof OPS)[number];

interface Result {
  outcome: string;
  /** What the outcome proves wrong: content or names from outside, a write that landed elsewhere. */
  problems: string[];
  /** A non-domain error: a 500 over REST. */
  crash?: string;
}

/** One operation the way WorkspaceFiles does it: lexical check, resolve, then the disk. */
async function runOp(op: Op, dir: WorkspaceDir, raw: string, i: number): Promise<Result> {
  const problems: string[] = [];
  const inside = async (path: string, what: string) => {
    const abs = join(dir.root, path);
    const parent = await realpath(join(abs, '..')).catch(() => abs);
    if (!isInside(dir.root, parent)) problems.push(`${what} "${path}" is outside`);
  };
  try {
    switch (op) {
      case 'read': {
        const path = await dir.resolve(checkWorkspacePath(raw));
        const { file } = await dir.openFile(path);
        const content = await file.readFile().finally(() => file.close());
        if (content.includes(MARKER)) problems.push('returned canary content');
        await inside(path, 'read');
        return { outcome: `read ${path}`, problems };
      }
      case 'write': {
        const path = await dir.resolve(checkWorkspacePath(raw));
        const content = Buffer.from(`written ${i}`);
        await dir.writeAtomic(path, content);
        await inside(path, 'wrote');
        const back = await readFile(join(dir.root, path)).catch(() => null);
        if (!back?.equals(content)) problems.push(`"${path}" does not hold what was written`);
        return { outcome: `wrote ${path}`, problems };
      }
      case 'list': {
        const path = await dir.resolve(checkWorkspacePath(raw));
        const entries = await dir.list(path);
        if (entries.some((e) => e.name.includes(MARKER))) problems.push('listed an outside dir');
        await inside(`${path}/x`, 'listed');
        return { outcome: `listed ${path}`, problems };
      }
      case 'remove': {
        const path = await dir.resolve(checkWorkspacePath(raw), false);
        await dir.remove(path, true);
        await inside(path, 'removed');
        return { outcome: `removed ${path}`, problems };
      }
      case 'move-from': {
        const from = await dir.resolve(checkWorkspacePath(raw, 'from'), false);
        if (from === '.') return { outcome: 'refused: root', problems };
        await dir.move(from, `moved/${i}`);
        const landed = await lstat(join(dir.root, `moved/${i}`)).catch(() => null);
        if (!landed) problems.push(`moved "${from}" did not land in moved/${i}`);
        return { outcome: `moved ${from}`, problems };
      }
      case 'move-to': {
        const to = await dir.resolve(checkWorkspacePath(raw, 'to'), false);
        await dir.move('victim.txt', to);
        await inside(to, 'moved to');
        if (!(await lstat(join(dir.root, to)).catch(() => null)))
          problems.push(`moved to "${to}" but nothing is there`);
        return { outcome: `moved to ${to}`, problems };
      }
    }
  } catch (error) {
    if (error instanceof DomainError) return { outcome: `refused ${error.code}`, problems };
    return { outcome: 'crash', problems, crash: `${code(error) ?? ''} ${String(error)}` };
  }
}

describe('WorkspaceDir: traversal payloads on a real filesystem', () => {
  let l: Layout | undefined;
  afterEach(async () => {
    await removeLayout(l);
    l = undefined;
  });

  it('refuses or contains every payload for every operation: 0 escapes, 0 crashes', async () => {
    l = await createLayout();
    const table = payloads(l);
    expect(table.length).toBeGreaterThanOrEqual(60);
    const outsideNow = () => ({
      base: snapshot(l!.base, new Set(['ws'])),
      tmp: snapshot(l!.tmp),
    });
    const entries = workspaceEntries(l);
    createEntries(l.ws, entries);
    const reference = insideState(l.ws);
    const initial = outsideNow();
    const escapes: string[] = [];
    const crashes: string[] = [];
    const tally = new Map<string, number>();
    let cases = 0;
    let before = initial;
    for (const op of OPS) {
      for (const [i, payload] of table.entries()) {
        if (payload.readOnly && op !== 'read' && op !== 'list') continue;
        repairWorkspace(l.ws, entries, reference);
        const dir = await WorkspaceDir.open(l.ws);
        const result = await runOp(op, dir, payload.path, i);
        const after = outsideNow();
        cases++;
        const name = `${op} ${payload.label} ${JSON.stringify(payload.path.slice(0, 80))}`;
        const changed = [
          ...diff(l.base, before.base, after.base),
          ...diff(l.tmp, before.tmp, after.tmp),
        ];
        before = after;
        for (const problem of [...result.problems, ...changed]) escapes.push(`${name}: ${problem}`);
        if (result.crash) crashes.push(`${name}: ${result.crash}`);
        const kind = result.outcome.split(' ').slice(0, 2).join(' ');
        const key = kind.startsWith('refused') ? kind : 'accepted (inside)';
        tally.set(key, (tally.get(key) ?? 0) + 1);
      }
    }
    const final = outsideNow();
    escapes.push(...diff(l.base, initial.base, final.base), ...diff(l.tmp, initial.tmp, final.tmp));
    report(
      `WorkspaceDir payloads: ${table.length} payloads, ${cases} cases; ${[...tally]
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ')}`,
    );
    expect(escapes).toEqual([]);
    expect(crashes).toEqual([]);
  });

  it('checkWorkspacePath refuses every lexical trick before the disk is touched', () => {
    const refused = [
      '..',
      '../x',
      'a/../../x',
      'a/..',
      '\uff0e\uff0e/x',
      '\u2025/x',
      '\u2024\u2024',
      '\ufe52\ufe52',
      '\ufe30',
      '..\u2215x',
      '..\uff0fx',
      '..\uff3cx',
      '..\u2044x',
      '..\\x',
      '/etc/passwd',
      '~/x',
      'C:\\x',
      'c:x',
      'x\u0000y',
      'x\ny',
      'x\u0085y',
      '',
      'a/'.repeat(512) + 'b',
      'x'.repeat(256),
    ];
    const accepted = refused.filter((raw) => {
      try {
        checkWorkspacePath(raw);
        return true;
      } catch {
        return false;
      }
    });
    expect(accepted).toEqual([]);
    expect(checkWorkspacePath('./a//b/')).toBe('a/b');
    expect(checkWorkspacePath('..foo/...')).toBe('..foo/...');
    expect(checkWorkspacePath('%2e%2e')).toBe('%2e%2e');
  });
});

/**
 * Swaps `a` (in `ws`) between a real directory and a symlink, as fast as it can, until told to
 * stop: ctl[0] = stop, ctl[1] = swaps done. A directory cannot be renamed over a symlink (nor the
 * reverse), so each swap is two renames; `fresh` gives `a` a new empty directory each time (the
 * writer may also create `a` in the gap: that one is moved away next turn), `same` puts the one
 * directory `a.real` back (readers), `tree` swaps `t/sub` inside a `t/` the main thread stages
 * and deletes.
 */
const SWAPPER = `
const { mkdirSync, renameSync } = require('node:fs');
const { workerData: w } = require('node:worker_threads');
const ctl = new Int32Array(w.ctl);
const code = (e) => e && e.code;
const ignore = (codes, f) => { try { f(); return true; } catch (e) { if (!codes.includes(code(e))) throw e; return false; } };
let n = 0;
while (Atomics.load(ctl, 0) === 0) {
  if (w.mode === 'fresh') {
    ignore(['ENOENT'], () => renameSync(w.ws + '/a', w.ws + '/r-' + n++));
    if (!ignore(['EISDIR', 'ENOTEMPTY', 'EEXIST'], () => renameSync(w.ws + '/a.link', w.ws + '/a'))) continue;
    Atomics.add(ctl, 1, 1);
    renameSync(w.ws + '/a', w.ws + '/a.link');
    ignore(['EEXIST'], () => mkdirSync(w.ws + '/a'));
  } else if (w.mode === 'same') {
    renameSync(w.ws + '/a', w.ws + '/a.real');
    renameSync(w.ws + '/a.link', w.ws + '/a');
    Atomics.add(ctl, 1, 1);
    renameSync(w.ws + '/a', w.ws + '/a.link');
    renameSync(w.ws + '/a.real', w.ws + '/a');
  } else {
    // t/sub between the directory t/sub.real and the link t/sub.link, in whatever t/ the main
    // thread staged; while it deletes t/, renames fail and the next turn starts over.
    const t = w.ws + '/t';
    try {
      renameSync(t + '/sub', t + '/sub.real');
      renameSync(t + '/sub.link', t + '/sub');
      Atomics.add(ctl, 1, 1);
      renameSync(t + '/sub', t + '/sub.link');
      renameSync(t + '/sub.real', t + '/sub');
    } catch (e) {
      if (!['ENOENT', 'ENOTEMPTY', 'EEXIST', 'EISDIR', 'ENOTDIR'].includes(code(e))) throw e;
    }
  }
}
`;

interface Swapper {
  swaps: () => number;
  stop: () => Promise<void>;
}

async function startSwapper(data: {
  ws: string;
  mode: 'fresh' | 'same' | 'tree';
}): Promise<Swapper> {
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(SWAPPER, { eval: true, workerData: { ...data, ctl: ctl.buffer } });
  let failure: unknown;
  worker.on('error', (error) => (failure = error));
  const exited = once(worker, 'exit');
  const swaps = () => Atomics.load(ctl, 1);
  await until('the swapper to start swapping', () => failure !== undefined || swaps() >= 10);
  if (failure) throw failure;
  return {
    swaps,
    stop: async () => {
      Atomics.store(ctl, 0, 1);
      await exited;
      if (failure) throw failure;
    },
  };
}

/** Runs `count` operations, `concurrency` at a time, sorting outcomes into ok / refused / crash. */
async function hammer(
  count: number,
  concurrency: number,
  op: (i: number) => Promise<void>,
): Promise<{ ok: number; refused: Map<string, number>; crashes: string[] }> {
  let next = 0;
  let ok = 0;
  const refused = new Map<string, number>();
  const crashes: string[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        try {
          await op(i);
          ok++;
        } catch (error) {
          if (error instanceof DomainError)
            refused.set(error.code, (refused.get(error.code) ?? 0) + 1);
          else crashes.push(`#${i}: ${code(error) ?? ''} ${String(error)}`);
        }
      }
    }),
  );
  return { ok, refused, crashes };
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const show = (m: Map<string, number>) => [...m].map(([k, n]) => `${k} ${n}`).join(', ');

/** Every file under `root` (symlinks not followed), by name. */
async function filesUnder(root: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const walk = async (abs: string): Promise<void> => {
    for (const entry of await readdir(abs, { withFileTypes: true })) {
      const child = join(abs, entry.name);
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) found.set(entry.name, child);
    }
  };
  await walk(root);
  return found;
}

describe('WorkspaceDir: a directory swapped for a symlink mid-operation', () => {
  const WRITES = 10_000;
  let l: Layout | undefined;
  let swapper: Swapper | undefined;
  afterEach(async () => {
    await swapper?.stop().catch(() => undefined);
    swapper = undefined;
    await removeLayout(l);
    l = undefined;
  });

  const variants = [
    {
      name: 'a symlink to an outside sibling dir',
      target: (x: Layout) => x.outside,
      path: (_x: Layout, i: number) => `a/f-${i}.txt`,
    },
    {
      // The link is "/" itself; the path then leads into a temp dir of ours, so a write that
      // escaped would land where we can see it (and nowhere that matters).
      name: 'a symlink to / (into a /tmp dir of ours)',
      target: () => '/',
      path: (x: Layout, i: number) => `a/${x.tmp.slice(1)}/f-${i}.txt`,
    },
  ];

  it.each(variants)(
    `${WRITES} writes while a/ is swapped for $name: 0 files outside`,
    async ({ name, target, path }) => {
      l = await createLayout();
      await mkdir(join(l.ws, 'a'), { recursive: true });
      await symlink(target(l), join(l.ws, 'a.link'));
      const dir = await WorkspaceDir.open(l.ws);
      const outsideBefore = { base: snapshot(l.base, new Set(['ws'])), tmp: snapshot(l.tmp) };
      const started = Date.now();
      swapper = await startSwapper({ ws: l.ws, mode: 'fresh' });
      const written = new Map<number, string>();
      const run = await hammer(WRITES, 4, async (i) => {
        const resolved = await dir.resolve(checkWorkspacePath(path(l!, i)));
        await dir.writeAtomic(resolved, Buffer.from(`write ${i}`));
        written.set(i, resolved);
      });
      await swapper.stop();
      const swaps = swapper.swaps();
      swapper = undefined;
      const ms = Date.now() - started;

      const outsideAfter = { base: snapshot(l.base, new Set(['ws'])), tmp: snapshot(l.tmp) };
      const outsideChanges = [
        ...diff(l.base, outsideBefore.base, outsideAfter.base),
        ...diff(l.tmp, outsideBefore.tmp, outsideAfter.tmp),
      ];
      // Every write that succeeded is a file inside the workspace with its content.
      const inside = await filesUnder(l.ws);
      const lost: string[] = [];
      for (const i of written.keys()) {
        const at = inside.get(`f-${i}.txt`);
        if (!at || !(await readFile(at)).equals(Buffer.from(`write ${i}`)))
          lost.push(`f-${i}.txt (${written.get(i)})`);
      }
      report(
        `race, writes, ${name}: ${WRITES} writes in ${ms} ms, ${swaps} swaps; ok ${run.ok}, ` +
          `refused ${total(run.refused)} (${show(run.refused)}), crashes ${run.crashes.length}; ` +
          `files outside: ${outsideChanges.length}`,
      );
      expect(outsideChanges).toEqual([]);
      expect(lost).toEqual([]);
      expect(run.crashes).toEqual([]);
      expect(run.ok + total(run.refused)).toBe(WRITES);
      // Both outcomes happened: the race really interleaved.
      expect(run.ok).toBeGreaterThan(0);
      expect(total(run.refused)).toBeGreaterThan(0);
    },
    60_000,
  );

  it(`${WRITES} reads while a/ is swapped for a symlink to an outside canary: never the canary`, async () => {
    l = await createLayout();
    await mkdir(join(l.ws, 'a'), { recursive: true });
    await writeFile(join(l.ws, 'a', 'f.txt'), 'inside\n');
    await writeFile(join(l.outside, 'f.txt'), CANARY);
    await symlink(l.outside, join(l.ws, 'a.link'));
    const dir = await WorkspaceDir.open(l.ws);
    const started = Date.now();
    swapper = await startSwapper({ ws: l.ws, mode: 'same' });
    const leaks: number[] = [];
    const run = await hammer(WRITES, 4, async (i) => {
      const resolved = await dir.resolve(checkWorkspacePath('a/f.txt'));
      const { file } = await dir.openFile(resolved);
      const content = await file.readFile().finally(() => file.close());
      if (content.includes(MARKER)) leaks.push(i);
      else expect(content.toString()).toBe('inside\n');
    });
    await swapper.stop();
    const swaps = swapper.swaps();
    swapper = undefined;
    report(
      `race, reads: ${WRITES} reads in ${Date.now() - started} ms, ${swaps} swaps; ` +
        `ok ${run.ok}, refused ${total(run.refused)} (${show(run.refused)}), ` +
        `crashes ${run.crashes.length}; canary returned: ${leaks.length}`,
    );
    expect(leaks).toEqual([]);
    expect(run.crashes).toEqual([]);
    expect(run.ok).toBeGreaterThan(0);
    expect(total(run.refused)).toBeGreaterThan(0);
  }, 60_000);

  it('recursive deletes while a subdirectory is swapped for a symlink out: outside untouched', async () => {
    l = await createLayout();
    const ws = l.ws;
    const dir = await WorkspaceDir.open(ws);
    // t/ is made under another name and renamed into place (the swapper only touches t/), so
    // the test itself never writes through a swapped link.
    const stage = () => {
      mkdirSync(join(ws, 'stage/sub'), { recursive: true });
      for (let j = 0; j < 3; j++) writeFileSync(join(ws, `stage/sub/junk-${j}`), 'x');
      symlinkSync(l!.outside, join(ws, 'stage/sub.link'));
      renameSync(join(ws, 'stage'), join(ws, 't'));
    };
    stage();
    const outsideBefore = snapshot(l.base, new Set(['ws']));
    const started = Date.now();
    swapper = await startSwapper({ ws, mode: 'tree' });
    // remove() and destroy() in turns, both descriptor-relative.
    const CYCLES = 1_000;
    let ok = 0;
    const refused = new Map<string, number>();
    const crashes: string[] = [];
    for (let i = 0; i < CYCLES; i++) {
      if (!lstatSync(join(ws, 't'), { throwIfNoEntry: false })) stage();
      try {
        if (i % 2 === 0) await dir.remove('t', true);
        else await WorkspaceDir.destroy(join(ws, 't'));
        ok++;
      } catch (error) {
        if (error instanceof DomainError)
          refused.set(error.code, (refused.get(error.code) ?? 0) + 1);
        else crashes.push(`#${i}: ${code(error) ?? ''} ${String(error)}`);
      }
    }
    await swapper.stop();
    const swaps = swapper.swaps();
    swapper = undefined;
    const outsideChanges = diff(l.base, outsideBefore, snapshot(l.base, new Set(['ws'])));
    report(
      `race, recursive deletes: ${CYCLES} deletes in ${Date.now() - started} ms, ${swaps} swaps; ` +
        `ok ${ok}, refused ${total(refused)} (${show(refused)}), crashes ${crashes.length}; ` +
        `outside changes: ${outsideChanges.length}`,
    );
    expect(outsideChanges).toEqual([]);
    expect(crashes).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    expect(swaps).toBeGreaterThan(0);
  }, 60_000);
});
