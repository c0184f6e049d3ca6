import { randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { createTestApp, registerUser, type TestApp, type TestUser } from './support/test-app';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';
import {
  CANARY,
  carriesCanary,
  count,
  createEntries,
  createLayout,
  dirtyTops,
  type Entry,
  insideState,
  isInside,
  type Layout,
  type OutsideState,
  outsideChanges as outsideChangesOf,
  outsideState,
  repairWorkspace,
  report as reportMetrics,
  sha,
  type TraversalPayload,
  traversalPayloads,
  type Tree,
  workspaceEntries as traversalEntries,
} from './support/traversal';

/**
 * Traversal payloads through the agent tools, end to end: the offline model plays a script (one
 * `/tool` line = one model turn, calls joined by ` && `), the run handler resolves, decides and
 * executes each call, and every call becomes a journal step and a `tool` message. Each path-taking
 * tool gets every payload: read_file, list_files, search_files (`path`), write_file, edit_file,
 * delete_file, move_file (as `from` and as `to`). The layout and the payloads are those of
 * test/support/traversal.ts, as in the REST suite: canary trees outside (a sibling, a prefix-named
 * sibling, a temp dir), symlinks / hard links / loops inside; plus the agent deny list (.git,
 * .env*) and links of its own.
 *
 * A call "escapes" if an outside tree changes (names, sizes, mtimes, contents, link targets), if a
 * step result or a model-visible message carries a canary (or denied content, or /etc/passwd),
 * if a success cannot be shown to have stayed inside, or if a denied path is served. A failure
 * must carry a 4xx-style code; a run must complete. Destructive calls run in rounds over a
 * repaired workspace: a call that comes after a success that changed an entry it touches is played
 * again in the next round, so each payload is judged against the pristine layout. Runs as root in
 * CI: nothing that could write or delete targets a path we do not own.
 */

/** In .env / .git files: agents must never see it. */
const DENIED_MARKER = `DENIED-${randomBytes(12).toString('hex')}`;
/** A line of /etc/passwd: a system file served to the model. */
const SYSTEM_FILE = /root:[^:\n]*:0:0:/;

const report = (line: string) => reportMetrics(`tools ${line}`);

/** Files and dirs agents may never touch (and whose content they may never see). */
const DENIED_FILES = ['.env', '.envrc', '.git/config', 'sub/.env.local', 'sub/.git/config'];

/** The shared workspace, plus the deny list, move sources and links of the tools' own. */
function workspaceEntries(l: Layout, moveSources: number): Entry[] {
  // Exactly one "secret" per file: what edit_file searches for (the canaries hold one too).
  const content = (path: string) =>
    DENIED_FILES.includes(path) ? `${DENIED_MARKER} TOKEN=1 secret\n` : `${path} inside secret\n`;
  const entries = traversalEntries(l, content);
  const file = (path: string) => entries.push({ kind: 'file', path, content: content(path) });
  const sym = (path: string, target: string) => entries.push({ kind: 'symlink', path, target });
  entries.push({ kind: 'dir', path: 'sub/.git' });
  for (const f of DENIED_FILES) if (!entries.some((e) => e.path === f)) file(f);
  // One source per move_file-as-`to` call: each moves its own file.
  for (let i = 0; i < moveSources; i++) file(`mv${i}.txt`);
  sym('proc-cwd', '/proc/self/cwd');
  sym('proc-root', '/proc/self/root');
  sym('ws-abs', l.ws);
  sym('env-link', '.env');
  sym('sub-env-link', 'sub/.env.local');
  sym('git-link', '.git');
  entries.push({ kind: 'hardlink', path: 'hard.txt', target: join(l.tmp, 'hard-canary.txt') });
  return entries;
}

interface Payload extends TraversalPayload {
  /**
   * The agent deny list: refused (TOOL_DENIED, PATH_DENIED or INVALID_PATH) by every tool
   * (`always`), or by those that follow the last component (`followed`: a link to a denied
   * file; delete and move act on the link itself).
   */
  deny?: 'always' | 'followed';
}

function payloads(l: Layout): Payload[] {
  // A raw NUL has a test of its own (it cannot be journalled); .GIT and .Env are in the deny list.
  const { nul: _nul, dotfileCases: _dotfileCases, ...shared } = traversalPayloads(l);
  const p = (label: string, path: string, readOnly = false): Payload => ({ label, path, readOnly });
  const deny = (label: string, path: string, how: Payload['deny'] = 'always'): Payload => ({
    label: `deny: ${label}`,
    path,
    deny: how,
  });
  return [
    ...Object.values(shared).flat(),
    // Through the links of the tools' own workspace.
    p('link to /proc/self/cwd', 'proc-cwd/package.json', true),
    p('link to /proc/self/root', 'proc-root/etc/passwd', true),
    p('abs link to the workspace', 'ws-abs/ok.txt'),
    p('hard link at the root', 'hard.txt'),
    // The agent deny list.
    deny('.git/config', '.git/config'),
    deny('.git', '.git'),
    deny('.git/', '.git/'),
    deny('.git/HEAD (missing)', '.git/HEAD'),
    deny('new hook', '.git/hooks/post-checkout'),
    deny('.GIT/config', '.GIT/config'),
    deny('.Git/CONFIG', '.Git/CONFIG'),
    deny('nested .git', 'sub/.git/config'),
    deny('.env', '.env'),
    deny('.ENV', '.ENV'),
    deny('.Env', '.Env'),
    deny('./.env', './.env'),
    deny('.//.env', './/.env'),
    deny('.env/', '.env/'),
    deny('.env.local (missing)', '.env.local'),
    deny('sub/.env.local', 'sub/.env.local'),
    deny('sub/.ENV.LOCAL', 'sub/.ENV.LOCAL'),
    deny('.envrc', '.envrc'),
    deny('dir named .env.d', '.env.d/x.txt'),
    deny('.env with a zero-width space', '.env\u200b'),
    deny('.git/../.env', '.git/../.env'),
    deny('sub/../.env', 'sub/../.env'),
    deny('through a link to .git', 'git-link/config'),
    deny('link to .git', 'git-link', 'followed'),
    deny('link to .env', 'env-link', 'followed'),
    deny('link to sub/.env.local', 'sub-env-link', 'followed'),
  ];
}

const VARIANTS = [
  'read_file',
  'list_files',
  'search_files',
  'write_file',
  'edit_file',
  'delete_file',
  'move_file:from',
  'move_file:to',
] as const;
type Variant = (typeof VARIANTS)[number];
const READ_VARIANTS: readonly Variant[] = ['read_file', 'list_files', 'search_files'];
/** delete_file and move_file act on a link itself; the others follow it. */
const followsLast = (v: Variant) => !['delete_file', 'move_file:from', 'move_file:to'].includes(v);
const SEARCH = 'secret|inside|CANARY|root:';

function argsFor(v: Variant, value: string, i: number): Record<string, unknown> {
  switch (v) {
    case 'read_file':
      return { path: value };
    case 'list_files':
      return { path: value, recursive: true };
    case 'search_files':
      return { pattern: SEARCH, path: value, max_matches: 500 };
    case 'write_file':
      return { path: value, content: `written ${i}\n` };
    case 'edit_file':
      return { path: value, edits: [{ search: 'secret', replace: `edited ${i}` }] };
    case 'delete_file':
      return { path: value };
    case 'move_file:from':
      return { from: value, to: `moved/${i}` };
    case 'move_file:to':
      return { from: `mv${i}.txt`, to: value };
  }
}

/** Failures a caller may see (the tools' 4xx): anything else is a crash or a leak of state. */
const REFUSALS = new Set([
  'INVALID_PATH',
  'PATH_ESCAPES_WORKSPACE',
  'TOOL_DENIED',
  'PATH_DENIED',
  'FILE_NOT_FOUND',
  'INVALID_ARGUMENTS',
  'NOT_A_FILE',
  'NOT_A_DIRECTORY',
  'ALREADY_EXISTS',
  'PRECONDITION_FAILED',
  'EDIT_NOT_APPLIED',
  'DIRECTORY_NOT_EMPTY',
]);
const DENY_REFUSALS = new Set(['TOOL_DENIED', 'PATH_DENIED', 'INVALID_PATH']);
const DENIED_NAME = /(^|\/)\.git(\/|$)|(^|\/)\.env/i;

/** One tool call of a script: `json` sends hand-written arguments (parsed, they are `args`). */
interface Call {
  tool: string;
  args: Record<string, unknown>;
  json?: string;
  /** The journal may hold other arguments than those sent (text PostgreSQL cannot store). */
  unstorable?: boolean;
}

/** `name {json}` for a script line; refuses what the offline model's parser would split. */
function encode(call: Call): string {
  const json = (call.json ?? JSON.stringify(call.args)).replace(
    /[\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16)}`,
  );
  const text = `${call.tool} ${json}`;
  if (/\s&&\s/.test(text) || /[\n\r]/.test(text)) throw new Error(`cannot script ${text}`);
  return text;
}

interface StepView {
  seq: number;
  kind: string;
  name: string;
  status: string;
  args: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

interface MessageView {
  seq: number;
  role: string;
  content: string;
}

interface Played {
  /** The tool step of each call, in call order (undefined: the call never became a step). */
  steps: (StepView | undefined)[];
  messages: MessageView[];
  /** Runs that did not complete, calls that did not reach the tool intact. */
  problems: string[];
  runs: number;
}

/** One call as judged: what was sent and what became of it. */
interface Case {
  what: string;
  tool: string;
  args: Record<string, unknown>;
  deny: boolean;
  step: StepView | undefined;
}

const top = (path: unknown) => String(path).split('/')[0];

describe('workspace traversal through the agent tools (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let projectId: string;
  let l: Layout;
  let table: Payload[];
  let entries: Entry[];
  let reference: Tree;
  /** symlink name -> its targets: what a payload naming the link may reach inside. */
  const links = new Map<string, string[]>();
  const started = Date.now();
  /** Successes that are inside but odd (reported, not failed). */
  const quirks = new Set<string>();

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'all' } });
    alice = await registerUser(t.http);
    projectId = await createProject(t.http, alice, 'tools-traversal');
    const agents = (
      await t.http.get(`/v1/my/projects/${projectId}/agents`).set(alice.auth).expect(200)
    ).body.items as { id: string; name: string }[];
    // Writes run at once instead of parking for approval; project settings stay the defaults.
    await t.http
      .patch(
        `/v1/my/projects/${projectId}/agents/${agents.find((a) => a.name === 'CodeAssistant')!.id}`,
      )
      .set(alice.auth)
      .send({ approval_tools: [] })
      .expect(200);
    l = createLayout(t.config.workspace.dir, projectId, 'codelab-tools-traversal-out-');
    table = payloads(l);
    entries = workspaceEntries(l, table.length);
    rmSync(l.ws, { recursive: true, force: true });
    createEntries(l.ws, entries);
    reference = insideState(l.ws);
    for (const e of entries)
      if (e.kind === 'symlink') {
        const name = e.path.split('/').pop()!;
        links.set(name, [...(links.get(name) ?? []), e.target]);
      }
  });
  afterAll(async () => {
    await t?.close();
    if (l) rmSync(l.tmp, { recursive: true, force: true });
  });

  const outsideNow = () => outsideState(l);
  const outsideChanges = (before: OutsideState) => outsideChangesOf(l, before);

  /** Every page of a list route. */
  async function steps(url: string): Promise<StepView[]> {
    const all: StepView[] = [];
    let after = 0;
    for (;;) {
      const page = (await t.http.get(url).query({ after, limit: 100 }).set(alice.auth).expect(200))
        .body as { items: StepView[]; next_after: number | null };
      all.push(...page.items);
      if (page.next_after === null || page.items.length === 0) return all;
      after = page.next_after;
    }
  }
  async function messages(url: string): Promise<MessageView[]> {
    const all: MessageView[] = [];
    let after = 0;
    for (;;) {
      const page = (await t.http.get(url).query({ after, limit: 100 }).set(alice.auth).expect(200))
        .body as { items: MessageView[]; has_more: boolean };
      all.push(...page.items);
      if (!page.has_more || page.items.length === 0) return all;
      after = page.items.at(-1)!.seq;
    }
  }

  /**
   * Plays the calls as CodeAssistant: all in one model turn per run (a message holds at most
   * 32,000 characters, so a long list is split over runs played one after the other).
   */
  async function play(calls: Call[]): Promise<Played> {
    const chunks: Call[][] = [[]];
    let size = 0;
    for (const call of calls) {
      const length = encode(call).length + 4;
      if (chunks.at(-1)!.length && size + length > 30_000) {
        chunks.push([]);
        size = 0;
      }
      chunks.at(-1)!.push(call);
      size += length;
    }
    const played: Played = { steps: [], messages: [], problems: [], runs: 0 };
    for (const chunk of chunks) {
      const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
      const content = `traversal\n/tool ${chunk.map(encode).join(' && ')}`;
      const { run } = await sendMessage(t.http, alice, projectId, sid, { content });
      const done = await waitForRun(t.http, alice, projectId, sid, run.id, undefined, 60_000);
      played.runs++;
      if (done.status !== 'completed')
        played.problems.push(`run ${run.id} ended ${done.status}: ${JSON.stringify(done.error)}`);
      const base = `/v1/my/projects/${projectId}/sessions/${sid}`;
      const tools = (await steps(`${base}/runs/${run.id}/steps`)).filter((s) => s.kind === 'tool');
      if (tools.length !== chunk.length)
        played.problems.push(`run ${run.id}: ${chunk.length} calls sent, ${tools.length} steps`);
      for (const [i, call] of chunk.entries()) {
        const step = tools[i];
        if (
          step &&
          (step.name !== call.tool ||
            (!call.unstorable && !isDeepStrictEqual(step.args, call.args)))
        )
          played.problems.push(
            `run ${run.id} step ${step.seq}: ${step.name} ${JSON.stringify(step.args)} is not the call sent (${encode(call)})`,
          );
        played.steps.push(step);
      }
      played.messages.push(...(await messages(`${base}/messages`)));
    }
    return played;
  }

  /** What the model (or the step's reader) must never see. */
  const leaks = (text: string) => [
    ...(carriesCanary(text) ? ['carries the outside canary'] : []),
    ...(text.includes(DENIED_MARKER) ? ['carries denied (.env/.git) content'] : []),
    ...(SYSTEM_FILE.test(text) ? ['carries /etc/passwd'] : []),
  ];

  const lexicallyInside = (p: unknown): p is string =>
    typeof p === 'string' &&
    p.length > 0 &&
    !isAbsolute(p) &&
    !p.split('/').includes('..') &&
    isInside(l.ws, join(l.ws, p));
  /** The real directory holding `p` (its nearest existing ancestor) is inside the workspace. */
  const realParentInside = (p: string) => {
    for (let dir = dirname(join(l.ws, p)); ; dir = dirname(dir)) {
      try {
        return isInside(l.ws, realpathSync(dir));
      } catch {
        if (dir === dirname(dir)) return false;
      }
    }
  };
  const entryAt = (p: string) => {
    try {
      return lstatSync(join(l.ws, p), { throwIfNoEntry: false });
    } catch {
      return undefined; // ENOTDIR: a file on the way.
    }
  };

  /**
   * Why a succeeded call cannot be shown to have stayed inside (empty: it did). Judged on the
   * workspace right after the run; `before` is what it held before the run, `last` the digest
   * of the last successful write or edit of each path in the run.
   */
  function insideProof(
    tool: string,
    args: Record<string, unknown>,
    output: Record<string, unknown>,
    before: Tree,
    last: Map<string, string>,
  ): string[] {
    const problems: string[] = [];
    const at = (p: unknown, what: string): p is string => {
      if (p === '.' || (lexicallyInside(p) && realParentInside(p))) return true;
      problems.push(`${what} ${JSON.stringify(p)} is not inside`);
      return false;
    };
    const plainFile = (p: string, what: string) => {
      const s = entryAt(p);
      if (!s?.isFile()) problems.push(`${what} "${p}" is not a regular file inside`);
      return s?.isFile() ?? false;
    };
    const plainDir = (p: string, what: string) => {
      if (!entryAt(p)?.isDirectory()) problems.push(`${what} "${p}" is not a directory inside`);
    };
    switch (tool) {
      case 'read_file': {
        if (!at(output.path, 'read') || !plainFile(output.path, 'read')) break;
        const data = readFileSync(join(l.ws, output.path));
        if (sha(data) !== output.sha256 || before.get(output.path) !== `1 ${sha(data)}`)
          problems.push(`returned "${output.path}" at ${String(output.sha256)}: not what it holds`);
        if (typeof output.content === 'string' && !data.toString().includes(output.content))
          problems.push(`returned content "${output.path}" does not hold`);
        break;
      }
      case 'list_files': {
        if (!at(output.path, 'listed')) break;
        plainDir(output.path, 'listed');
        for (const e of (output.entries ?? []) as { path: unknown }[]) {
          if (!at(e.path, 'entry')) continue;
          if (output.path !== '.' && !e.path.startsWith(`${output.path}/`))
            problems.push(`entry "${e.path}" is not under "${output.path}"`);
          if (!entryAt(e.path)) problems.push(`entry "${e.path}" does not exist inside`);
          if (DENIED_NAME.test(e.path)) problems.push(`listed the denied "${e.path}"`);
        }
        break;
      }
      case 'search_files': {
        // A start that is no directory is searched as empty (see the report): inside all the same.
        if (!at(output.path, 'searched')) break;
        if (!entryAt(output.path)?.isDirectory()) quirks.add(`search_files ${output.path}`);
        for (const m of (output.matches ?? []) as { path: unknown; line: number; text: string }[]) {
          if (!at(m.path, 'match') || !plainFile(m.path, 'match')) continue;
          if (DENIED_NAME.test(m.path)) problems.push(`searched the denied "${m.path}"`);
          const line = readFileSync(join(l.ws, m.path), 'utf8').split('\n')[m.line - 1];
          if (line?.slice(0, 300) !== m.text) problems.push(`match in "${m.path}" is not its line`);
        }
        break;
      }
      case 'write_file':
      case 'edit_file': {
        if (!at(output.path, 'wrote') || !plainFile(output.path, 'wrote')) break;
        if (sha(readFileSync(join(l.ws, output.path))) !== last.get(output.path))
          problems.push(`"${output.path}" does not hold what was written`);
        if (tool === 'write_file' && output.sha256 !== sha(String(args.content)))
          problems.push(`reported ${String(output.sha256)} for the content sent`);
        break;
      }
      case 'delete_file':
        if (!at(output.path, 'deleted')) break;
        if (!before.has(output.path)) problems.push(`deleted "${output.path}" that was not inside`);
        if (entryAt(output.path)) problems.push(`"${output.path}" is still there`);
        break;
      case 'move_file':
        if (at(output.from, 'moved from') && !before.has(output.from))
          problems.push(`moved "${output.from}" that was not inside`);
        if (at(output.to, 'moved to') && !entryAt(output.to))
          problems.push(`moved to "${output.to}" but nothing is there`);
        break;
      default:
        problems.push(`no proof for ${tool}`);
    }
    return problems;
  }

  interface Verdict {
    escapes: string[];
    /** Failures that are not refusals (crashes), deny-list calls not refused as such. */
    unexpected: string[];
    outcomes: Map<string, number>;
    /** The outcomes of the deny-list calls alone. */
    denied: Map<string, number>;
  }
  const verdict = (): Verdict => ({
    escapes: [],
    unexpected: [],
    outcomes: new Map(),
    denied: new Map(),
  });

  /**
   * Judges the calls of one play. `judged[i]` false: the call ran on a workspace an earlier call
   * had changed; only leaks are checked (it is played again).
   */
  function judge(cases: Case[], played: Played, before: Tree, v: Verdict, judged?: boolean[]) {
    const last = new Map<string, string>();
    for (const c of cases)
      if (c.step?.status === 'succeeded' && typeof c.step.result?.output === 'object') {
        const out = c.step.result.output as Record<string, unknown>;
        if (c.tool === 'write_file' || c.tool === 'edit_file')
          last.set(String(out.path), String(out.sha256));
      }
    for (const [i, c] of cases.entries()) {
      const step = c.step;
      const name = `${c.what} -> ${step ? (step.error?.code ?? step.status) : 'no step'}`;
      if (!step) {
        v.unexpected.push(name);
        continue;
      }
      for (const leak of leaks(JSON.stringify([step.result, step.error])))
        v.escapes.push(`${name}: the step ${leak}`);
      if (judged && !judged[i]) continue;
      if (c.deny) count(v.denied, step.error?.code ?? step.status);
      if (step.status === 'succeeded') {
        count(v.outcomes, 'succeeded (inside)');
        if (c.deny) v.escapes.push(`${name}: a deny-list path was served`);
        const output = (step.result?.output ?? {}) as Record<string, unknown>;
        for (const problem of insideProof(c.tool, c.args, output, before, last))
          v.escapes.push(`${name}: ${problem}`);
      } else if (step.status === 'failed') {
        const code = step.error?.code ?? '';
        count(v.outcomes, code);
        if (!REFUSALS.has(code)) v.unexpected.push(`${name}: ${step.error?.message}`);
        else if (c.deny && !DENY_REFUSALS.has(code))
          v.unexpected.push(`${name}: a deny-list path refused as ${code}, not as denied`);
      } else v.unexpected.push(`${name}: step ${step.status}`);
    }
    for (const m of played.messages)
      if (m.role !== 'user')
        for (const leak of leaks(m.content)) v.escapes.push(`message ${m.seq} (${m.role}) ${leak}`);
    v.unexpected.push(...played.problems);
  }

  /** Denied files are inside (a repair would hide a change): they must be as they were. */
  const deniedChanges = (what: string) => {
    const now = insideState(l.ws);
    return DENIED_FILES.filter((f) => now.get(f) !== reference.get(f)).map(
      (f) => `${what}: the denied "${f}" changed`,
    );
  };

  /** The names a path may reach at the top of the workspace (through links too). */
  const touches = (value: string) => {
    const seen = new Set<string>();
    const queue = value.split(/[/\\]/);
    while (queue.length) {
      const segment = queue.pop()!;
      if (segment === '' || segment === '.' || seen.has(segment)) continue;
      seen.add(segment);
      for (const target of links.get(segment) ?? []) queue.push(...target.split('/'));
    }
    return seen;
  };
  /** The top-level entries a succeeded call changed (`moved/<i>` is unique to its call). */
  const changedBy = (v: Variant, output: Record<string, unknown>) =>
    v === 'move_file:from'
      ? [top(output.from), 'moved']
      : v === 'move_file:to'
        ? [top(output.to), String(output.from)]
        : [top(output.path)];

  it('refuses or contains every payload in every path-taking tool: 0 escapes, 0 crashes', async () => {
    expect(table.length).toBeGreaterThanOrEqual(60);
    const v = verdict();
    const perVariant = new Map<Variant, Map<string, number>>();
    const rounds = new Map<Variant, number>();
    const denied = new Map<string, number>();
    const addTo = (into: Map<string, number>, from: Map<string, number>) => {
      for (const [k, n] of from) into.set(k, (into.get(k) ?? 0) + n);
    };
    let runs = 0;
    const initial = outsideNow();
    const caseOf = (variant: Variant, i: number): Case => {
      const payload = table[i];
      const tool = variant.split(':')[0];
      return {
        what: `${variant} ${payload.label} ${JSON.stringify(payload.path).slice(0, 80)}`,
        tool,
        args: argsFor(variant, payload.path, i),
        deny: payload.deny === 'always' || (payload.deny === 'followed' && followsLast(variant)),
        step: undefined,
      };
    };
    const applicable = (variant: Variant) =>
      table.flatMap((p, i) => (p.readOnly && !READ_VARIANTS.includes(variant) ? [] : [i]));

    // Reads, on the pristine workspace: one run per tool, all at once.
    {
      const before = outsideNow();
      const plays = await Promise.all(
        READ_VARIANTS.map(async (variant) => {
          const cases = applicable(variant).map((i) => caseOf(variant, i));
          const played = await play(cases.map((c) => ({ tool: c.tool, args: c.args })));
          cases.forEach((c, k) => (c.step = played.steps[k]));
          return { variant, cases, played };
        }),
      );
      for (const { variant, cases, played } of plays) {
        const mine = verdict();
        judge(cases, played, reference, mine);
        v.escapes.push(...mine.escapes);
        v.unexpected.push(...mine.unexpected);
        perVariant.set(variant, mine.outcomes);
        addTo(denied, mine.denied);
        rounds.set(variant, 1);
        runs += played.runs;
      }
      v.escapes.push(
        ...outsideChanges(before).map((c) => `reads: ${c}`),
        ...deniedChanges('reads'),
      );
      const dirty = dirtyTops(l.ws, reference);
      if (dirty.size) v.escapes.push(`reads changed the workspace: ${[...dirty].join(', ')}`);
    }

    // Changes, one tool at a time, in rounds over a repaired workspace.
    for (const variant of VARIANTS.filter((x) => !READ_VARIANTS.includes(x))) {
      const outcomes = new Map<string, number>();
      let pending = applicable(variant);
      let round = 0;
      while (pending.length) {
        if (++round > 12) {
          v.unexpected.push(`${variant}: still ${pending.length} calls to judge after 12 rounds`);
          break;
        }
        repairWorkspace(l.ws, entries, reference);
        const before = outsideNow();
        const cases = pending.map((i) => caseOf(variant, i));
        const played = await play(cases.map((c) => ({ tool: c.tool, args: c.args })));
        runs += played.runs;
        cases.forEach((c, k) => (c.step = played.steps[k]));
        // A call after a success that changed an entry it may reach is judged again next round.
        const changed = new Set<string>();
        const judged = cases.map((c, k) => {
          const reach = touches(table[pending[k]].path);
          if (variant === 'move_file:to') reach.add(`mv${pending[k]}.txt`);
          const clean = ![...reach].some((name) => changed.has(name));
          if (c.step?.status === 'succeeded')
            for (const name of changedBy(
              variant,
              (c.step.result?.output ?? {}) as Record<string, unknown>,
            ))
              changed.add(name);
          return clean;
        });
        const mine = verdict();
        judge(cases, played, reference, mine, judged);
        v.escapes.push(...mine.escapes);
        v.unexpected.push(...mine.unexpected);
        addTo(outcomes, mine.outcomes);
        addTo(denied, mine.denied);
        v.escapes.push(
          ...outsideChanges(before).map((c) => `${variant} round ${round}: ${c}`),
          ...deniedChanges(`${variant} round ${round}`),
        );
        // Inside changes no success explains: a refused call that changed the workspace.
        for (const name of dirtyTops(l.ws, reference))
          if (!changed.has(name))
            v.unexpected.push(`${variant} round ${round}: "${name}" changed by a refused call`);
        pending = pending.filter((_, k) => !judged[k]);
      }
      perVariant.set(variant, outcomes);
      rounds.set(variant, round);
    }
    repairWorkspace(l.ws, entries, reference);
    v.escapes.push(...outsideChanges(initial).map((c) => `overall: ${c}`));

    const total = new Map<string, number>();
    for (const outcomes of perVariant.values()) addTo(total, outcomes);
    const calls = [...total.values()].reduce((a, b) => a + b, 0);
    const fmt = (m: Map<string, number>) =>
      [...m]
        .sort()
        .map(([k, n]) => `${k}=${n}`)
        .join(' ');
    report(
      `payloads=${table.length} (deny-list ${table.filter((p) => p.deny).length}, ` +
        `system files read-only ${table.filter((p) => p.readOnly).length}) calls=${calls} runs=${runs} ` +
        `escapes=${v.escapes.length} unexpected=${v.unexpected.length} ` +
        `inside-but-odd=${quirks.size} (${[...quirks].slice(0, 3).join(', ')}) ` +
        `seconds=${((Date.now() - started) / 1000).toFixed(1)}; per tool: ${VARIANTS.map(
          (x) =>
            `${x} ${[...(perVariant.get(x)?.values() ?? [])].reduce((a, b) => a + b, 0)} calls/${rounds.get(x)} rounds`,
        ).join(', ')}; outcomes: ${fmt(total)}`,
    );
    report(
      `by tool: ${VARIANTS.map((x) => `${x} [${fmt(perVariant.get(x) ?? new Map())}]`).join(
        ', ',
      )}; deny-list calls: ${fmt(denied)}`,
    );
    for (const variant of VARIANTS) {
      const n = [...(perVariant.get(variant)?.values() ?? [])].reduce((a, b) => a + b, 0);
      expect(n).toBeGreaterThanOrEqual(60);
    }
    expect(v.escapes).toEqual([]);
    expect(v.unexpected).toEqual([]);
  }, 120_000);

  it('refuses malformed arguments and contains glob games, never crashing', async () => {
    repairWorkspace(l.ws, entries, reference);
    const before = outsideNow();
    const canarySha = sha(CANARY);
    const call = (tool: string, args: Record<string, unknown>): Call => ({ tool, args });
    const raw = (tool: string, json: string): Call => ({
      tool,
      args: JSON.parse(json) as Record<string, unknown>,
      json,
    });
    const calls: Call[] = [
      call('read_file', { path: ['../outside/canary.txt'] }),
      call('read_file', { path: { path: '../outside/canary.txt' } }),
      call('read_file', { path: 1 }),
      call('read_file', { path: null }),
      call('read_file', {}),
      call('read_file', { path: 'ok.txt', root: '/' }),
      call('read_file', { path: 'ok.txt', cwd: '..' }),
      call('read_file', { path: '../outside/canary.txt', start_line: 1, end_line: 1 }),
      call('read_file', { path: 'ok.txt', max_bytes: 1e9 }),
      raw('read_file', '{"path":"\\u002e\\u002e/outside/canary.txt"}'),
      raw('read_file', '{"path":"ok.txt","path":"../outside/canary.txt"}'),
      raw('read_file', '{"path":"ok.txt","__proto__":{"path":"../outside/canary.txt"}}'),
      call('list_files', { path: ['..'] }),
      call('list_files', { path: '..', recursive: 'yes' }),
      call('list_files', { path: null, recursive: true }),
      call('list_files', { recursive: true }),
      call('search_files', { pattern: 'secret', glob: '../**' }),
      call('search_files', { pattern: 'secret', glob: '../outside/*' }),
      call('search_files', { pattern: 'secret', glob: '/**' }),
      call('search_files', { pattern: 'secret', glob: '**/../../**' }),
      call('search_files', { pattern: 'secret', glob: '{..,../outside}/**' }),
      call('search_files', { pattern: 'secret', glob: `${l.outside}/**` }),
      call('search_files', { pattern: 'CANARY' }),
      call('search_files', { pattern: 'canary', case_sensitive: false, path: '.' }),
      call('search_files', { pattern: 'TOKEN|DENIED', max_matches: 500 }),
      call('search_files', { pattern: '.', path: 'holder' }),
      call('search_files', { pattern: '.', path: 'hl' }),
      call('search_files', { pattern: 'secret', path: 'out-abs', glob: '**' }),
      call('search_files', { pattern: 'secret', path: ['..'] }),
      call('write_file', { path: ['../outside/array.txt'], content: 'x' }),
      call('write_file', { path: 'w-number.txt', content: 1 }),
      call('write_file', { path: 'w-extra.txt', content: 'x', root: '..' }),
      raw('write_file', '{"path":"w-dup.txt","path":"../outside/dup.txt","content":"x"}'),
      raw('write_file', '{"path":"\\u002e\\u002e/outside/esc.txt","content":"x"}'),
      call('write_file', {
        path: '../outside/canary.txt',
        content: 'x',
        expected_sha256: canarySha,
      }),
      call('edit_file', { path: '../outside/canary.txt', edits: [] }),
      call('edit_file', {
        path: 'ok.txt',
        edits: [{ search: 'secret', replace: 'x', path: '../outside/canary.txt' }],
      }),
      call('edit_file', { path: ['out-file'], edits: [{ search: 'secret', replace: 'x' }] }),
      call('delete_file', { path: ['..'] }),
      call('delete_file', { path: 'sub', recursive: true }),
      call('delete_file', { path: '../outside/canary.txt', expected_sha256: canarySha }),
      call('move_file', { from: ['mv0.txt'], to: '../outside/m.txt' }),
      call('move_file', { from: 'mv0.txt' }),
      call('move_file', { from: 'mv0.txt', to: ['..', 'outside'] }),
      raw('move_file', '{"from":"mv1.txt","to":"x.txt","to":"../outside/dup.txt"}'),
    ];
    const played = await play(calls);
    const cases: Case[] = calls.map((c, i) => ({
      what: `${c.tool} ${encode(c).slice(c.tool.length + 1, 120)}`,
      tool: c.tool,
      args: c.args,
      deny: false,
      step: played.steps[i],
    }));
    const v = verdict();
    judge(cases, played, reference, v);
    v.escapes.push(...outsideChanges(before), ...deniedChanges('malformed'));
    report(
      `malformed arguments: ${calls.length} calls, ${[...v.outcomes]
        .sort()
        .map(([k, n]) => `${k}=${n}`)
        .join(' ')}; escapes=${v.escapes.length} unexpected=${v.unexpected.length}`,
    );
    expect(v.escapes).toEqual([]);
    expect(v.unexpected).toEqual([]);
  });

  /**
   * Characters PostgreSQL cannot keep in jsonb (NUL, lone UTF-16 surrogates) in a tool argument
   * (the REST suite sends NUL as INVALID_PATH): each call must end as a refused step the model
   * reads, never take the whole run down (it once did: the model turn could not be journalled, the
   * run was dead-lettered INTERNAL with no step). One run: a crash shows as "run ended failed".
   */
  it('refuses NUL and lone surrogates in tool arguments call by call, never failing the run', async () => {
    repairWorkspace(l.ws, entries, reference);
    const before = outsideNow();
    const values = [
      'ok.txt\u0000../../outside/canary.txt',
      '\u0000',
      '..\ud800/outside/canary.txt',
      'ok.txt\udfff',
    ];
    const cases: Case[] = VARIANTS.flatMap((variant) =>
      values.map((value, i) => ({
        what: `${variant} ${JSON.stringify(value)}`,
        tool: variant.split(':')[0],
        args: argsFor(variant, value, i),
        deny: false,
        step: undefined,
      })),
    );
    cases.push({
      what: 'write_file with a NUL in its content',
      tool: 'write_file',
      args: { path: 'nul-content.txt', content: 'a\u0000b' },
      deny: false,
      step: undefined,
    });
    const played = await play(cases.map((c) => ({ tool: c.tool, args: c.args, unstorable: true })));
    cases.forEach((c, k) => (c.step = played.steps[k]));
    const v = verdict();
    judge(cases, played, reference, v);
    v.escapes.push(...outsideChanges(before), ...deniedChanges('unstorable'));
    // Refused, every one of them (nothing here is a path or a content anyone can store).
    for (const c of cases)
      if (c.step && c.step.status !== 'failed') v.unexpected.push(`${c.what}: ${c.step.status}`);
    report(
      `unstorable arguments: ${cases.length} calls, ${[...v.outcomes]
        .sort()
        .map(([k, n]) => `${k}=${n}`)
        .join(' ')}; escapes=${v.escapes.length} unexpected=${v.unexpected.length}` +
        (played.problems.length ? ` (${played.problems.join('; ')})` : ''),
    );
    expect(v.escapes).toEqual([]);
    expect(played.problems).toEqual([]);
    expect(v.unexpected).toEqual([]);
  });
});
