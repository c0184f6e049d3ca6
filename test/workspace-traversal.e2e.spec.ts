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
import { isAbsolute, join, relative } from 'node:path';
import { parse as parseQuery } from 'node:querystring';
import type { Test } from 'supertest';
import { createTestApp, registerUser, type TestApp, type TestUser } from './support/test-app';

/**
 * Traversal payloads through REST, for every route that takes a path: read (GET files), write
 * (PUT files), list (GET entries), delete (DELETE entries) and move (POST moves, as `from` and as
 * `to`). Outside the project's workspace: a sibling directory and a prefix-named sibling in the
 * workspaces dir, and a separate temp dir, all holding canaries marked with a unique string (in
 * their content and in a file name). Inside: symlinks out (absolute, relative, chains, to "/",
 * dangling, loops), a hard link to an outside file, look-alike names. A case "escapes" if any
 * outside tree changes (names, sizes, mtimes, contents), if a response carries the marker, or if
 * a 2xx cannot be shown to have stayed inside; a 5xx is a failure of its own. Runs as root in CI:
 * nothing that could write or delete targets a path we do not own.
 */

const MARKER = `CANARY-${randomBytes(12).toString('hex')}`;
const CANARY = Buffer.from(`${MARKER} outside secret\n`);

/** One line of figures on stdout (like FAULT-METRICS), printed before asserting. */
const report = (line: string) => process.stdout.write(`TRAVERSAL-METRICS ${line}\n`);

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
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
    // A root's own mtime moves when the workspace inside it is repaired; its entries are listed.
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

interface Layout {
  /** The workspaces dir of the test app: the project's workspace and outside siblings. */
  base: string;
  ws: string;
  outside: string;
  /** `<projectId>-evil`: a string-prefix containment check would take it for the workspace. */
  evilName: string;
  /** A separate temp dir of ours. */
  tmp: string;
}

type Entry = { path: string } & (
  | { kind: 'dir' }
  | { kind: 'file'; content: string }
  | { kind: 'symlink'; target: string }
  | { kind: 'hardlink'; target: string }
);

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
  for (let i = 0; i < 45; i++) sym(`c${i}`, i === 44 ? 'sub' : `c${i + 1}`);
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

/** What the inside holds, mtimes aside: tells which top-level entries a request changed. */
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

/** Puts back the top-level entries the last request changed (never following a link). */
function repairWorkspace(root: string, entries: Entry[], reference: Tree): void {
  mkdirSync(root, { recursive: true });
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
  /** The decoded path (sent encoded by the client: `.query()` / JSON). */
  value: string;
  /** Sent as is in the query string (the server decodes it); moves send the decoded form. */
  rawQuery?: string;
  /** Points at real system files: only read and list (we run as root). */
  readOnly?: boolean;
}

function payloads(l: Layout): Payload[] {
  const tmpRel = l.tmp.slice(1);
  const p = (label: string, value: string, readOnly = false): Payload => ({
    label,
    value,
    readOnly,
  });
  /** A query string the way an attacker types it; decoded the way the server decodes it. */
  const q = (label: string, rawQuery: string, readOnly = false): Payload => ({
    label: `raw ${label}`,
    value: String(parseQuery(`path=${rawQuery}`).path),
    rawQuery,
    readOnly,
  });
  return [
    // Plain and dressed-up "..".
    p('dot-dot', '..'),
    p('dot-dot slash', '../'),
    p('parent canary', '../outside/canary.txt'),
    p('into the prefix sibling', `../${l.evilName}/canary.txt`),
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
    // Encoded forms, sent encoded once more: literal names for the server.
    p('literal percent dot-dot slash', '%2e%2e%2foutside%2fcanary.txt'),
    p('literal dot-dot %2f', '..%2foutside%2fcanary.txt'),
    p('literal double-encoded', '%252e%252e%252foutside'),
    // Encoded forms the server decodes.
    q('percent dot-dot', '%2e%2e/outside/canary.txt'),
    q('percent dot-dot slash', '%2e%2e%2foutside%2fcanary.txt'),
    q('upper-case percent', '%2E%2E%2F%2E%2E%2Foutside'),
    q('dot-dot %2f', '..%2foutside%2fcanary.txt'),
    q('half-encoded dots', '.%2e/outside/canary.txt'),
    q('encoded backslashes', '..%5coutside%5ccanary.txt'),
    q('encoded backslash traversal', '%2e%2e%5c%2e%2e%5coutside'),
    q('double-encoded', '%252e%252e%252foutside%252fcanary.txt'),
    q('overlong UTF-8 dots', '%c0%ae%c0%ae%c0%afoutside'),
    q('overlong UTF-8 3-byte dots', '%e0%80%ae%e0%80%ae/outside'),
    q('overlong UTF-8 slash', '..%c0%afoutside'),
    q('UTF-8 fullwidth dots', '%ef%bc%8e%ef%bc%8e/outside/canary.txt'),
    q('UTF-8 division slash', '..%e2%88%95outside%e2%88%95canary.txt'),
    q('IIS %u dots', '%u002e%u002e/outside'),
    q('NUL', 'ok.txt%00../../outside/canary.txt'),
    q('NUL alone', '%00'),
    q('plus as space', '..+/outside/canary.txt'),
    q('Tomcat path parameter', '..;/outside/canary.txt'),
    q('encoded slash into a link', 'out-abs%2fcanary.txt'),
    q('encoded absolute', '%2fetc%2fpasswd', true),
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
    p('256-byte segment', 'x'.repeat(256)),
    p('256-byte multibyte segment', '\u00e9'.repeat(128)),
    p('1024 bytes, valid', `${'y'.repeat(255)}/`.repeat(4).slice(0, 1020) + '.txt'),
    // Symlinks to the outside.
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

interface Reply {
  status: number;
  type: string;
  body: Buffer;
  json: Record<string, unknown> | null;
}

/** Every response as raw bytes (a file body and a problem alike), JSON parsed when it is JSON. */
async function reply(req: Test): Promise<Reply> {
  const res = await req.buffer(true).parse((r, done) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => done(null, Buffer.concat(chunks)));
  });
  const type = String(res.headers['content-type'] ?? '');
  const body = Buffer.isBuffer(res.body) ? res.body : Buffer.alloc(0);
  let json: Record<string, unknown> | null = null;
  if (/json/.test(type)) json = JSON.parse(body.toString()) as Record<string, unknown>;
  return { status: res.status, type, body, json };
}

/** Why a response is not a proper RFC 9457 problem, or null. */
function notAProblem(r: Reply): string | null {
  if (!/^application\/problem\+json/.test(r.type)) return `content-type ${r.type}`;
  if (r.json?.status !== r.status || typeof r.json?.code !== 'string')
    return `body ${r.body.toString().slice(0, 200)}`;
  return null;
}

const OPS = ['read', 'write', 'list', 'delete', 'move-from', 'move-to'] as const;
type Op = (typeof OPS)[number];

describe('workspace traversal over REST (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let projectId: string;
  let l: Layout;

  beforeAll(async () => {
    t = await createTestApp();
    alice = await registerUser(t.http);
    projectId = (
      await t.http.post('/v1/my/projects').set(alice.auth).send({ name: 'Traversal' }).expect(201)
    ).body.id;
    mkdirSync(t.config.workspace.dir, { recursive: true });
    const base = realpathSync(t.config.workspace.dir);
    l = {
      base,
      ws: join(base, projectId),
      outside: join(base, 'outside'),
      evilName: `${projectId}-evil`,
      tmp: realpathSync(mkdtempSync(join(tmpdir(), 'codelab-traversal-out-'))),
    };
    for (const dir of [l.outside, join(base, l.evilName), l.tmp]) {
      mkdirSync(join(dir, 'secret'), { recursive: true });
      writeFileSync(join(dir, 'canary.txt'), CANARY);
      writeFileSync(join(dir, 'secret', 'canary.txt'), CANARY);
      writeFileSync(join(dir, `${MARKER}.name`), CANARY);
    }
    writeFileSync(join(l.outside, 'hard-canary.txt'), CANARY);
  });
  afterAll(async () => {
    await t.close();
    if (l) rmSync(l.tmp, { recursive: true, force: true });
  });

  const url = (what: string) => `/v1/my/projects/${projectId}/workspace/${what}`;
  const outsideNow = () => ({
    base: snapshot(l.base, new Set([projectId])),
    tmp: snapshot(l.tmp),
  });

  /** One request of `op` with the payload, the way a client would send it. */
  function request(op: Op, payload: Payload, i: number): Test {
    const withPath = (req: Test, extra = '') =>
      payload.rawQuery !== undefined
        ? req
        : req.query(extra ? { path: payload.value, recursive: 'true' } : { path: payload.value });
    const raw = (what: string, extra = '') =>
      payload.rawQuery !== undefined ? `${url(what)}?path=${payload.rawQuery}${extra}` : url(what);
    switch (op) {
      case 'read':
        return withPath(t.http.get(raw('files'))).set(alice.auth);
      case 'write':
        return withPath(t.http.put(raw('files')))
          .set(alice.auth)
          .set('Content-Type', 'application/octet-stream')
          .send(Buffer.from(`written ${i}`));
      case 'list':
        return withPath(t.http.get(raw('entries'))).set(alice.auth);
      case 'delete':
        return withPath(t.http.delete(raw('entries', '&recursive=true')), 'recursive').set(
          alice.auth,
        );
      case 'move-from':
        return t.http
          .post(url('moves'))
          .set(alice.auth)
          .send({ from: payload.value, to: `moved/${i}` });
      case 'move-to':
        return t.http
          .post(url('moves'))
          .set(alice.auth)
          .send({ from: 'victim.txt', to: payload.value });
    }
  }

  /** For a 2xx: why it did not provably stay inside the workspace, if it did not. */
  function outsideProof(op: Op, r: Reply, i: number): string[] {
    const problems: string[] = [];
    const insideAt = (path: unknown, what: string) => {
      if (typeof path !== 'string') return problems.push(`${what}: no path in ${r.type}`);
      const abs = join(l.ws, path);
      let parent = abs;
      try {
        parent = realpathSync(join(abs, '..'));
      } catch {
        // Missing parent: judged lexically below.
      }
      if (!isInside(l.ws, parent)) problems.push(`${what} "${path}" is outside`);
    };
    switch (op) {
      case 'read': {
        const known = [...insideState(l.ws).values()].some((v) => v.endsWith(sha(r.body)));
        if (!known) problems.push('returned content that no file inside holds');
        break;
      }
      case 'write': {
        insideAt(r.json?.path, 'wrote');
        const back = lstatSync(join(l.ws, String(r.json?.path)), { throwIfNoEntry: false });
        if (
          !back?.isFile() ||
          !readFileSync(join(l.ws, String(r.json?.path))).equals(Buffer.from(`written ${i}`))
        )
          problems.push(`"${String(r.json?.path)}" does not hold what was written`);
        break;
      }
      case 'list':
        insideAt(`${String(r.json?.path)}/x`, 'listed');
        break;
      case 'move-from':
      case 'move-to':
        insideAt(r.json?.to, 'moved to');
        if (!lstatSync(join(l.ws, String(r.json?.to)), { throwIfNoEntry: false }))
          problems.push(`moved to "${String(r.json?.to)}" but nothing is there`);
        break;
      case 'delete':
        break;
    }
    return problems;
  }

  it('refuses (4xx problem+json) or contains every payload on every route: 0 escapes, 0 5xx', async () => {
    const table = payloads(l);
    expect(table.length).toBeGreaterThanOrEqual(60);
    const entries = workspaceEntries(l);
    createEntries(l.ws, entries);
    const reference = insideState(l.ws);
    const initial = outsideNow();
    let before = initial;
    const escapes: string[] = [];
    const serverErrors: string[] = [];
    const badProblems: string[] = [];
    const tally = new Map<string, number>();
    let cases = 0;
    for (const op of OPS) {
      for (const [i, payload] of table.entries()) {
        if (payload.readOnly && op !== 'read' && op !== 'list') continue;
        repairWorkspace(l.ws, entries, reference);
        const r = await reply(request(op, payload, i));
        const after = outsideNow();
        cases++;
        const name = `${op} ${payload.label} ${JSON.stringify((payload.rawQuery ?? payload.value).slice(0, 80))} -> ${r.status}`;
        const problems = [
          ...diff(l.base, before.base, after.base),
          ...diff(l.tmp, before.tmp, after.tmp),
        ];
        before = after;
        if (r.body.includes(MARKER)) problems.push('the response carries the canary marker');
        if (r.status >= 500) serverErrors.push(`${name}: ${r.body.toString().slice(0, 300)}`);
        else if (r.status >= 400) {
          const why = notAProblem(r);
          if (why) badProblems.push(`${name}: ${why}`);
        } else problems.push(...outsideProof(op, r, i));
        for (const problem of problems) escapes.push(`${name}: ${problem}`);
        const key =
          r.status < 300
            ? `${r.status} (inside)`
            : `${r.status} ${typeof r.json?.code === 'string' ? r.json.code : ''}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
      }
    }
    const final = outsideNow();
    escapes.push(...diff(l.base, initial.base, final.base), ...diff(l.tmp, initial.tmp, final.tmp));
    report(
      `REST payloads: ${table.length} payloads (${table.filter((p) => p.rawQuery).length} as raw ` +
        `query strings), ${cases} requests; ${[...tally]
          .sort()
          .map(([k, n]) => `${k}: ${n}`)
          .join(', ')}`,
    );
    expect(escapes).toEqual([]);
    expect(serverErrors).toEqual([]);
    expect(badProblems).toEqual([]);
  }, 120_000);

  it('answers malformed path parameters (repeated, arrays, objects, wrong types) with 4xx, never 5xx', async () => {
    repairWorkspace(l.ws, workspaceEntries(l), insideState(l.ws));
    const before = outsideNow();
    const body = (json: string) =>
      t.http.post(url('moves')).set(alice.auth).set('Content-Type', 'application/json').send(json);
    /** [name, request, the `to` a 2xx may report (a legit move inside)]. */
    const cases: [string, Test, string?][] = [
      [
        'GET files, path twice',
        t.http.get(`${url('files')}?path=ok.txt&path=../outside/canary.txt`),
      ],
      [
        'PUT files, path twice',
        t.http
          .put(`${url('files')}?path=a.txt&path=../outside/x.txt`)
          .set('Content-Type', 'text/plain')
          .send('x'),
      ],
      ['GET entries, path twice', t.http.get(`${url('entries')}?path=.&path=..`)],
      [
        'DELETE entries, path twice',
        t.http.delete(`${url('entries')}?path=victim.txt&path=../outside/canary.txt`),
      ],
      ['GET files, path[]', t.http.get(`${url('files')}?path[]=../outside/canary.txt`)],
      ['GET files, path[0] path[1]', t.http.get(`${url('files')}?path[0]=ok.txt&path[1]=..`)],
      ['GET files, path[a]', t.http.get(`${url('files')}?path[a]=../outside/canary.txt`)],
      [
        'PUT files, path[]',
        t.http
          .put(`${url('files')}?path[]=..%2foutside%2fx.txt`)
          .set('Content-Type', 'text/plain')
          .send('x'),
      ],
      ['GET files, empty path', t.http.get(`${url('files')}?path=`)],
      ['GET files, bare path', t.http.get(`${url('files')}?path`)],
      ['GET files, no path', t.http.get(url('files'))],
      ['DELETE entries, no path', t.http.delete(url('entries'))],
      ['DELETE entries, recursive=yes', t.http.delete(`${url('entries')}?path=sub&recursive=yes`)],
      ['GET files, 5 KB path', t.http.get(`${url('files')}?path=${'a/'.repeat(2600)}`)],
      [
        'POST moves, from array',
        body(JSON.stringify({ from: ['victim.txt', '../outside/canary.txt'], to: 'x' })),
      ],
      [
        'POST moves, from object',
        body(JSON.stringify({ from: { path: '../outside/canary.txt' }, to: 'x' })),
      ],
      ['POST moves, from number', body(JSON.stringify({ from: 1, to: 'x' }))],
      ['POST moves, from null', body(JSON.stringify({ from: null, to: 'x' }))],
      ['POST moves, no to', body(JSON.stringify({ from: 'victim.txt' }))],
      [
        'POST moves, to array',
        body(JSON.stringify({ from: 'victim.txt', to: ['x', '../outside/x'] })),
      ],
      [
        'POST moves, JSON-escaped dots',
        body('{"from":"\\u002e\\u002e/outside/canary.txt","to":"x"}'),
      ],
      [
        'POST moves, JSON-escaped NUL',
        body('{"from":"victim.txt","to":"x\\u0000/../../outside/x"}'),
      ],
      // JSON.parse keeps "__proto__" as a plain key (ignored): the move to "y" is legit.
      [
        'POST moves, __proto__',
        body('{"from":"victim.txt","to":"y","__proto__":{"to":"../outside/x"}}'),
        'y',
      ],
      ['POST moves, duplicate key', body('{"from":"victim.txt","to":"y","to":"../outside/x"}')],
      ['POST moves, not JSON', body('{"from":"victim.txt",')],
    ];
    const failures: string[] = [];
    const seen: string[] = [];
    for (const [name, req, legitTo] of cases) {
      const r = await reply(req.set(alice.auth));
      seen.push(`${name}: ${r.status} ${typeof r.json?.code === 'string' ? r.json.code : ''}`);
      if (r.body.includes(MARKER)) failures.push(`${name}: the response carries the canary marker`);
      if (r.status < 300 && legitTo !== undefined) {
        if (r.json?.to !== legitTo || !lstatSync(join(l.ws, legitTo), { throwIfNoEntry: false }))
          failures.push(`${name}: ${r.status} ${r.body.toString()}`);
      } else if (r.status < 400 || r.status >= 500) failures.push(`${name}: ${r.status}`);
      else {
        const why = notAProblem(r);
        if (why) failures.push(`${name}: ${why}`);
      }
    }
    const after = outsideNow();
    failures.push(...diff(l.base, before.base, after.base), ...diff(l.tmp, before.tmp, after.tmp));
    report(`REST malformed parameters: ${cases.length} requests; ${seen.join('; ')}`);
    expect(failures).toEqual([]);
  });
});
