import { once } from 'node:events';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  realpath,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DomainError } from '@codelab/platform';
import {
  CANARY,
  carriesCanary,
  count,
  createLayout as createTraversalLayout,
  isInside,
  type Layout,
  outsideChanges,
  outsideState,
  runPayloadCases,
  report,
  type TraversalPayload,
  traversalPayloads,
  workspaceEntries,
} from '../../../../test/support/traversal';
import { WorkspaceDir } from './workspace-dir';
import { checkWorkspacePath, MAX_PATH_BYTES, MAX_SEGMENT_BYTES } from './workspace-path';

/**
 * The path resolver against hostile paths, on a real filesystem (no mocks): the traversal payloads
 * of test/support/traversal.ts through checkWorkspacePath + WorkspaceDir for every operation that
 * takes a path, and races where another thread swaps a directory of the workspace for a symlink to
 * the outside while the main thread writes, reads or deletes through it. The outside trees (a
 * sibling of the workspace, a prefix-named sibling, a separate temp dir) hold canaries whose
 * content and names carry a unique marker; an "escape" is any change to them, or the marker
 * showing up in what an operation returned. Runs as root in CI, so nothing destructive ever
 * targets a path we do not own.
 */

const code = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** Waits for a condition with a deadline (polling, never a fixed sleep). */
async function until(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A temp root holding the workspace `ws` and its outside siblings, plus an outside temp dir. */
function createLayout(): Layout {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'codelab-wsdir-')));
  return createTraversalLayout(base, 'ws', 'codelab-wsdir-out-');
}

async function removeLayout(layout: Layout | undefined): Promise<void> {
  if (!layout) return;
  await rm(layout.base, { recursive: true, force: true });
  await rm(layout.tmp, { recursive: true, force: true });
}

/** Every shared payload, its lengths at the resolver's own limits. */
const payloads = (l: Layout): TraversalPayload[] =>
  Object.values(
    traversalPayloads(l, { maxSegmentBytes: MAX_SEGMENT_BYTES, maxPathBytes: MAX_PATH_BYTES }),
  ).flat();

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
        if (carriesCanary(content)) problems.push('returned canary content');
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
        if (entries.some((e) => carriesCanary(e.name))) problems.push('listed an outside dir');
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
    l = createLayout();
    const table = payloads(l);
    expect(table.length).toBeGreaterThanOrEqual(60);
    const crashes: string[] = [];
    const ws = l.ws;
    const { cases, escapes, tally } = await runPayloadCases({
      l,
      entries: workspaceEntries(l),
      ops: OPS,
      readOps: ['read', 'list'],
      table,
      run: async (op, payload, i) => {
        const result = await runOp(op, await WorkspaceDir.open(ws), payload.path, i);
        const name = `${op} ${payload.label} ${JSON.stringify(payload.path.slice(0, 80))}`;
        if (result.crash) crashes.push(`${name}: ${result.crash}`);
        const kind = result.outcome.split(' ').slice(0, 2).join(' ');
        const outcome = kind.startsWith('refused') ? kind : 'accepted (inside)';
        return { name, problems: result.problems, outcome };
      },
    });
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
      l = createLayout();
      await mkdir(join(l.ws, 'a'), { recursive: true });
      await symlink(target(l), join(l.ws, 'a.link'));
      const dir = await WorkspaceDir.open(l.ws);
      const outsideBefore = outsideState(l);
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

      const outsideChanged = outsideChanges(l, outsideBefore);
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
          `files outside: ${outsideChanged.length}`,
      );
      expect(outsideChanged).toEqual([]);
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
    l = createLayout();
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
      if (carriesCanary(content)) leaks.push(i);
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
    l = createLayout();
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
    const outsideBefore = outsideState(l);
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
        if (error instanceof DomainError) count(refused, error.code);
        else crashes.push(`#${i}: ${code(error) ?? ''} ${String(error)}`);
      }
    }
    await swapper.stop();
    const swaps = swapper.swaps();
    swapper = undefined;
    const outsideChanged = outsideChanges(l, outsideBefore);
    report(
      `race, recursive deletes: ${CYCLES} deletes in ${Date.now() - started} ms, ${swaps} swaps; ` +
        `ok ${ok}, refused ${total(refused)} (${show(refused)}), crashes ${crashes.length}; ` +
        `outside changes: ${outsideChanged.length}`,
    );
    expect(outsideChanged).toEqual([]);
    expect(crashes).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    expect(swaps).toBeGreaterThan(0);
  }, 60_000);
});
