import { createHash, randomBytes } from 'node:crypto';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, relative } from 'node:path';

/**
 * What the traversal suites share: the WorkspaceDir spec (libs/workspace/src/paths/
 * workspace-dir.spec.ts), REST (workspace-traversal.e2e.spec.ts) and the agent tools
 * (workspace-tools-traversal.e2e.spec.ts). Outside a workspace: a sibling directory, a
 * prefix-named sibling and a separate temp dir, all holding canaries marked with a unique string
 * (in their content and in a file name). Inside: symlinks out (absolute, relative, chains, to "/",
 * dangling, loops), a hard link to an outside file, look-alike names. The payloads are hostile
 * paths by category, as decoded strings. A case "escapes" if any outside tree changes (names,
 * sizes, mtimes, contents, link targets), or if what came back carries the marker. The suites run
 * as root in CI: nothing here writes or deletes anything but the trees it made.
 */

/** Unique to each test file (Jest gives each its own module registry). */
export const MARKER = `CANARY-${randomBytes(12).toString('hex')}`;
export const CANARY = Buffer.from(`${MARKER} outside secret\n`);

/** Whether bytes or text that came back from the code under test carry an outside canary. */
export const carriesCanary = (data: Buffer | string): boolean => data.includes(MARKER);

/** One line of figures on stdout (like FAULT-METRICS), printed before asserting. */
export const report = (line: string): void => {
  process.stdout.write(`TRAVERSAL-METRICS ${line}\n`);
};

export const sha = (data: Buffer | string): string =>
  createHash('sha256').update(data).digest('hex');

export const isInside = (root: string, abs: string): boolean => {
  const rel = relative(root, abs);
  return rel === '' || (rel !== '..' && !rel.startsWith('../') && !isAbsolute(rel));
};

export const count = (map: Map<string, number>, key: string): void => {
  map.set(key, (map.get(key) ?? 0) + 1);
};

/** Everything under `root` (symlinks not followed): type, size, mtime, content digest, target. */
export type Tree = Map<string, string>;

export function snapshot(root: string, skip: ReadonlySet<string> = new Set()): Tree {
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
    // A root's own mtime moves when a workspace inside it is repaired; its entries are listed.
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

export function diff(label: string, before: Tree, after: Tree): string[] {
  const changes: string[] = [];
  for (const [path, what] of after) {
    const was = before.get(path);
    if (was === undefined) changes.push(`${label}/${path}: created (${what})`);
    else if (was !== what) changes.push(`${label}/${path}: changed (${was} => ${what})`);
  }
  for (const path of before.keys()) if (!after.has(path)) changes.push(`${label}/${path}: removed`);
  return changes;
}

export interface Layout {
  /** Holds the workspace and its outside siblings (same filesystem: hard links work). */
  base: string;
  ws: string;
  /** Sibling of the workspace with canaries. */
  outside: string;
  /**
   * `<workspace name>-evil`, a sibling: a string-prefix containment check would take it for the
   * workspace (CVE-2025-53110).
   */
  evilName: string;
  /** A separate temp dir of ours, elsewhere under the system temp dir. */
  tmp: string;
}

/**
 * The layout around the workspace `<base>/<wsName>` (not created here): the canary trees in the
 * outside sibling, the prefix-named sibling and a new temp dir (`tmpPrefix`), and an outside file
 * in `outside` and in `tmp` for the workspace's hard links. The caller removes `tmp`.
 */
export function createLayout(base: string, wsName: string, tmpPrefix: string): Layout {
  mkdirSync(base, { recursive: true });
  const real = realpathSync(base);
  const l: Layout = {
    base: real,
    ws: join(real, wsName),
    outside: join(real, 'outside'),
    evilName: `${wsName}-evil`,
    tmp: realpathSync(mkdtempSync(join(tmpdir(), tmpPrefix))),
  };
  for (const dir of [l.outside, join(real, l.evilName), l.tmp]) {
    mkdirSync(join(dir, 'secret'), { recursive: true });
    writeFileSync(join(dir, 'canary.txt'), CANARY);
    writeFileSync(join(dir, 'secret', 'canary.txt'), CANARY);
    writeFileSync(join(dir, `${MARKER}.name`), CANARY);
  }
  writeFileSync(join(l.outside, 'hard-canary.txt'), CANARY);
  writeFileSync(join(l.tmp, 'hard-canary.txt'), CANARY);
  return l;
}

/** The outside as it is now: the trees of the layout, and the system files payloads aim at. */
export interface OutsideState {
  base: Tree;
  tmp: Tree;
  system: string;
}

export const outsideState = (l: Layout): OutsideState => ({
  base: snapshot(l.base, new Set([basename(l.ws)])),
  tmp: snapshot(l.tmp),
  // Read-only payloads aim at these (never written: a cheap double check).
  system: ['/etc/passwd', '/etc/hosts']
    .map((f) => [f, lstatSync(f, { throwIfNoEntry: false })] as const)
    .map(([f, s]) => `${f} ${s?.mtimeMs} ${s?.isFile() ? sha(readFileSync(f)) : ''}`)
    .join('\n'),
});

export const outsideDiff = (l: Layout, before: OutsideState, after: OutsideState): string[] => [
  ...diff(l.base, before.base, after.base),
  ...diff(l.tmp, before.tmp, after.tmp),
  ...(before.system === after.system ? [] : ['a system file changed']),
];

/** What changed outside since `before`. */
export const outsideChanges = (l: Layout, before: OutsideState): string[] =>
  outsideDiff(l, before, outsideState(l));

/** Follows the outside across a series of cases: what each case changed, what all did. */
export function watchOutside(l: Layout): { sinceLast: () => string[]; sinceStart: () => string[] } {
  const initial = outsideState(l);
  let last = initial;
  return {
    sinceLast: () => {
      const now = outsideState(l);
      const changes = outsideDiff(l, last, now);
      last = now;
      return changes;
    },
    sinceStart: () => outsideChanges(l, initial),
  };
}

export type Entry = { path: string } & (
  | { kind: 'dir' }
  | { kind: 'file'; content: string }
  | { kind: 'symlink'; target: string }
  | { kind: 'hardlink'; target: string }
);

/**
 * The workspace payloads run against: symlinks out (and in), a hard link out, odd names. A
 * file's content is `content(path)`, by default one "secret" per file (what an edit may search
 * for).
 */
export function workspaceEntries(
  l: Layout,
  content: (path: string) => string = (path) => `${path} inside secret\n`,
): Entry[] {
  const entries: Entry[] = [];
  const dir = (path: string) => entries.push({ kind: 'dir', path });
  const file = (path: string) => entries.push({ kind: 'file', path, content: content(path) });
  const sym = (path: string, target: string) => entries.push({ kind: 'symlink', path, target });
  for (const d of ['sub', '..foo', 'deep', 'deep/a', 'deep/a/b', 'hl', 'holder', '.git']) dir(d);
  dir('holder/inner');
  for (const f of [
    'ok.txt',
    'victim.txt',
    'sub/inner.txt',
    '..foo/x.txt',
    'holder/inner/keep.txt',
    '.git/config',
  ])
    file(f);
  sym('out-abs', l.outside);
  sym('out-rel', '../outside');
  sym('out-file', join(l.outside, 'canary.txt'));
  sym('out-file-rel', '../outside/canary.txt');
  sym('out-up', '..');
  sym('evil', `../${l.evilName}`);
  sym('evil-abs', join(l.base, l.evilName));
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

export function createEntries(root: string, entries: Entry[]): void {
  mkdirSync(root, { recursive: true });
  for (const e of entries) {
    const abs = join(root, e.path);
    if (e.kind === 'dir') mkdirSync(abs);
    else if (e.kind === 'file') writeFileSync(abs, e.content);
    else if (e.kind === 'symlink') symlinkSync(e.target, abs);
    else linkSync(e.target, abs);
  }
}

/** What the inside holds, mtimes aside: tells which top-level entries a case changed. */
export function insideState(root: string): Tree {
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

/** The top-level entries that differ from the reference. */
export function dirtyTops(root: string, reference: Tree): Set<string> {
  const now = insideState(root);
  const dirty = new Set<string>();
  for (const key of new Set([...now.keys(), ...reference.keys()]))
    if (now.get(key) !== reference.get(key)) dirty.add(key.split('/')[0]);
  return dirty;
}

/**
 * A fresh workspace for the next case: recreates only the top-level entries the last one changed
 * (creating ~80 symlinks per case is slow on some disks). Never follows a link.
 */
export function repairWorkspace(root: string, entries: Entry[], reference: Tree): void {
  for (const name of dirtyTops(root, reference)) {
    const abs = join(root, name);
    const s = lstatSync(abs, { throwIfNoEntry: false });
    if (s?.isDirectory()) rmSync(abs, { recursive: true });
    else if (s) rmSync(abs);
    for (const e of entries) if (e.path.split('/')[0] === name) createEntries(root, [e]);
  }
}

/** One case as its suite judged it. */
export interface CaseResult {
  /** Names the case in failures. */
  name: string;
  /** What the case proves wrong (content or names from outside, a write that landed elsewhere). */
  problems: string[];
  /** Tallied for the metrics line. */
  outcome: string;
}

/**
 * Every payload through every operation (a read-only one through `readOps` alone), each on the
 * workspace repaired to `entries` (`beforeRepair` first, if given): a case escapes with its own
 * problems and whatever changed outside while it ran; so do the changes of the whole series.
 */
export async function runPayloadCases<Op extends string, P extends TraversalPayload>(options: {
  l: Layout;
  entries: Entry[];
  ops: readonly Op[];
  readOps: readonly Op[];
  table: readonly P[];
  beforeRepair?: () => void;
  run: (op: Op, payload: P, i: number) => Promise<CaseResult>;
}): Promise<{ cases: number; escapes: string[]; tally: Map<string, number> }> {
  const { l, entries, ops, readOps, table, beforeRepair, run } = options;
  createEntries(l.ws, entries);
  const reference = insideState(l.ws);
  const outside = watchOutside(l);
  const escapes: string[] = [];
  const tally = new Map<string, number>();
  let cases = 0;
  for (const op of ops) {
    for (const [i, payload] of table.entries()) {
      if (payload.readOnly && !readOps.includes(op)) continue;
      beforeRepair?.();
      repairWorkspace(l.ws, entries, reference);
      const result = await run(op, payload, i);
      const changed = outside.sinceLast();
      cases++;
      for (const problem of [...result.problems, ...changed])
        escapes.push(`${result.name}: ${problem}`);
      count(tally, result.outcome);
    }
  }
  escapes.push(...outside.sinceStart());
  return { cases, escapes, tally };
}

export interface TraversalPayload {
  label: string;
  /** The path as a decoded string: what a tool argument, a JSON body or a decoded query holds. */
  path: string;
  /** Points at real system files: only read and list (we run as root). */
  readOnly?: boolean;
}

/** Percent-encoded: a literal name wherever nothing decodes it (below the HTTP layer). */
export interface EncodedPayload extends TraversalPayload {
  /** Once percent-decoded (as a query string), it points at real system files. */
  decodedReadOnly?: boolean;
}

/** The hostile paths against a workspace of `workspaceEntries`, by category. */
export interface TraversalPayloads {
  /** Plain and dressed-up "..". */
  dotDot: TraversalPayload[];
  /** Percent-encoded forms (query-string safe). */
  encoded: EncodedPayload[];
  /** Other escapes that nothing decodes (HTML, JSON as text). */
  textEscapes: TraversalPayload[];
  separators: TraversalPayload[];
  /** Unicode look-alikes of dots and slashes, invisible characters. */
  unicode: TraversalPayload[];
  /** Absolute, home, drives, URLs. */
  absolute: TraversalPayload[];
  /** Control characters (NUL aside) and lengths. */
  control: TraversalPayload[];
  /** A raw NUL (PostgreSQL cannot store it: a tool call carrying one has a test of its own). */
  nul: TraversalPayload[];
  /** Symlinks to the outside (absolute, relative, chains, "/", dangling, loops). */
  symlinks: TraversalPayload[];
  /** Hard link to an outside file. */
  hardLinks: TraversalPayload[];
  /** Legit names that only look suspicious (must stay inside when accepted). */
  lookAlikes: TraversalPayload[];
  /** Case games (Linux is case-sensitive: other names, inside). */
  caseGames: TraversalPayload[];
  /** Other cases of names an agent deny list refuses (.git, .env): inside for REST. */
  dotfileCases: TraversalPayload[];
  /** The root and empties. */
  root: TraversalPayload[];
}

export interface PathLimits {
  /** The longest path segment and path accepted, in UTF-8 bytes. */
  maxSegmentBytes: number;
  maxPathBytes: number;
}

export function traversalPayloads(
  l: Layout,
  { maxSegmentBytes, maxPathBytes }: PathLimits = { maxSegmentBytes: 255, maxPathBytes: 1024 },
): TraversalPayloads {
  const wsName = basename(l.ws);
  const tmpRel = l.tmp.slice(1);
  const p = (label: string, path: string, readOnly = false): TraversalPayload => ({
    label,
    path,
    readOnly,
  });
  const e = (label: string, path: string, decodedReadOnly = false): EncodedPayload => ({
    label,
    path,
    readOnly: false,
    decodedReadOnly,
  });
  return {
    dotDot: [
      p('dot-dot', '..'),
      p('dot-dot slash', '../'),
      p('parent canary', '../outside/canary.txt'),
      p('into the prefix sibling', `../${l.evilName}/canary.txt`),
      p('out and back into the workspace', `../${wsName}/ok.txt`),
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
      p('four dots', '..../outside/canary.txt'),
    ],
    encoded: [
      e('percent dot-dot', '%2e%2e/outside/canary.txt'),
      e('percent dot-dot slash', '%2e%2e%2foutside%2fcanary.txt'),
      e('upper-case percent', '%2E%2E%2F%2E%2E%2Foutside'),
      e('dot-dot %2f', '..%2foutside%2fcanary.txt'),
      e('half-encoded dots', '.%2e/outside/canary.txt'),
      e('encoded backslashes', '..%5coutside%5ccanary.txt'),
      e('encoded backslash traversal', '%2e%2e%5c%2e%2e%5coutside'),
      e('double-encoded', '%252e%252e%252foutside%252fcanary.txt'),
      e('double-encoded dir', '%252e%252e%252foutside'),
      e('overlong UTF-8 dots', '%c0%ae%c0%ae%c0%afoutside'),
      e('overlong UTF-8 dots, plain slash', '%c0%ae%c0%ae/outside/canary.txt'),
      e('overlong UTF-8 3-byte dots', '%e0%80%ae%e0%80%ae/outside'),
      e('overlong UTF-8 slash', '..%c0%afoutside'),
      e('UTF-8 fullwidth dots', '%ef%bc%8e%ef%bc%8e/outside/canary.txt'),
      e('UTF-8 division slash', '..%e2%88%95outside%e2%88%95canary.txt'),
      e('IIS %u dots', '%u002e%u002e/outside'),
      e('encoded NUL', 'ok.txt%00../../outside/canary.txt'),
      e('encoded NUL alone', '%00'),
      e('plus as space', '..+/outside/canary.txt'),
      e('Tomcat path parameter', '..;/outside/canary.txt'),
      e('encoded slash into a link', 'out-abs%2fcanary.txt'),
      e('encoded absolute', '%2fetc%2fpasswd', true),
    ],
    textEscapes: [
      p('HTML entities', '&#46;&#46;/outside/canary.txt'),
      p('JSON escape as text', '\\u002e\\u002e/outside/canary.txt'),
    ],
    separators: [
      p('backslashes', '..\\outside\\canary.txt'),
      p('mixed separators', '..\\/outside/canary.txt'),
      p('slash then backslash', '../\\outside'),
      p('backslash traversal', 'sub\\..\\..\\outside\\canary.txt'),
      p('UNC', '\\\\server\\share\\canary.txt'),
      p('Win32 device path', '\\\\?\\C:\\Windows\\win.ini'),
    ],
    unicode: [
      p('fullwidth full stops', '\uff0e\uff0e/outside/canary.txt'),
      p('two dot leader', '\u2025/outside/canary.txt'),
      p('one dot leaders', '\u2024\u2024/outside/canary.txt'),
      p('small full stops', '\ufe52\ufe52/outside/canary.txt'),
      p('vertical two dot leader', '\ufe30/outside/canary.txt'),
      p('division slash', '..\u2215outside\u2215canary.txt'),
      p('fullwidth solidus', '..\uff0foutside\uff0fcanary.txt'),
      p('fullwidth reverse solidus', '..\uff3coutside\uff3ccanary.txt'),
      p('fraction slash', '..\u2044outside\u2044canary.txt'),
      p('big solidus', '..\u29f8outside'),
      p('small reverse solidus', '..\ufe68outside'),
      p('fullwidth dots and solidus', '\uff0e\uff0e\uff0foutside'),
      p('combining long solidus overlay', '..\u0338outside/canary.txt'),
      p('zero-width space after dots', '..\u200b/outside/canary.txt'),
      p('soft hyphen after dots', '..\u00ad/outside/canary.txt'),
      p('combining dot', '.\u0307./outside/canary.txt'),
      p('right-to-left override', '\u202e../outside/canary.txt'),
      p('line separator after dots', '..\u2028/outside/canary.txt'),
      p('fullwidth dot env', '\uff0eenv'),
      p('fullwidth letters', '\uff4f\uff4b.txt'),
    ],
    absolute: [
      p('absolute /etc/passwd', '/etc/passwd', true),
      p('absolute /proc/self/environ', '/proc/self/environ', true),
      p('absolute to our canary', join(l.outside, 'canary.txt')),
      p('absolute into the workspace', join(l.ws, 'ok.txt')),
      p('double-slash absolute', `/${join(l.tmp, 'canary.txt')}`),
      p('home', '~/.bashrc'),
      p('home of root', '~root/.ssh/authorized_keys'),
      p('drive backslash', 'C:\\Windows\\win.ini'),
      p('drive slash', 'C:/Windows/win.ini'),
      p('drive relative', 'C:..\\outside'),
      p('file URL', `file://${join(l.tmp, 'canary.txt')}`),
    ],
    control: [
      p('tab', '..\t/outside'),
      p('newline', 'ok.txt\n../../outside'),
      p('carriage return', '..\r/outside'),
      p('C1 next line', '..\u0085/outside'),
      p('DEL', '..\u007f/outside'),
      p('1025 bytes', 'a/'.repeat(512) + 'b'),
      p('1025 bytes in 513 characters', `${'\u00e9'.repeat(512)}b`),
      p(`${maxSegmentBytes + 1}-byte segment`, 'x'.repeat(maxSegmentBytes + 1)),
      p('256-byte multibyte segment', '\u00e9'.repeat(128)),
      p(
        `${maxPathBytes} bytes, valid`,
        `${'y'.repeat(255)}/`.repeat(4).slice(0, maxPathBytes - 4) + '.txt',
      ),
    ],
    nul: [p('raw NUL', 'ok.txt\u0000../../outside/canary.txt')],
    symlinks: [
      p('abs dir link', 'out-abs/canary.txt'),
      p('abs dir link itself', 'out-abs'),
      p('abs dir link, nested', 'out-abs/secret/canary.txt'),
      p('rel dir link', 'out-rel/canary.txt'),
      p('rel dir link itself', 'out-rel'),
      p('abs file link', 'out-file'),
      p('rel file link', 'out-file-rel'),
      p('link to ..', 'out-up/outside/canary.txt'),
      p('link to .. itself', 'out-up'),
      p('link to .., back into the workspace', `out-up/${wsName}/ok.txt`),
      p('link to .., into the prefix sibling', `out-up/${l.evilName}/canary.txt`),
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
      p('file link inside a dir', 'holder/link-file'),
    ],
    hardLinks: [p('hard link', 'hl/hard.txt'), p('dir with a hard link', 'hl')],
    lookAlikes: [
      p('dir named ..foo', '..foo/x.txt'),
      p('three dots', '.../x.txt'),
      p('dot-dot space', '.. /outside/canary.txt'),
      p('trailing dot on a link name', 'out-abs./canary.txt'),
      p('trailing space', 'ok.txt '),
      p('link inside, back to root', 'in-up/ok.txt'),
      p('inside link', 'in-link/inner.txt'),
      p('file as a dir', 'ok.txt/x'),
    ],
    caseGames: [
      p('upper-case file', 'OK.TXT'),
      p('upper-case dir', 'SUB/inner.txt'),
      p('upper-case link name', 'OUT-ABS/canary.txt'),
      p('mixed-case link name', 'Out-Abs/canary.txt'),
      p('upper-case traversal', 'SRC/../../outside/canary.txt'),
      p('upper-case outside dir', '../OUTSIDE/canary.txt'),
    ],
    dotfileCases: [p('.GIT', '.GIT/config'), p('.Env', '.Env')],
    root: [p('root', '.'), p('root slash', './'), p('empty', ''), p('only slashes', '//')],
  };
}
