import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createTestApp, registerUser, type TestApp, type TestUser } from '../support/test-app';
import { signalGroup, withDeadline } from '../support/child-process';
import { createProject, createSession, sendMessage, waitForRun } from '../support/sessions-helpers';
import { WorkerFleet, workerEnvFor } from '../support/worker-fleet';
import { faultMetrics, RunsDb } from '../support/fault-support';
import { TEST_REDIS_URL } from '../support/test-env';

/*
 * One scripted run of the coder over a real workspace (7 model turns, 9 tool calls: parallel
 * reads, two edits, a new file, a move, a delete) is killed with SIGKILL at 27 step boundaries in
 * turn: a worker started with CODELAB_CRASH_AT=<point>[#n] kills itself there (exactly like
 * kill -9), the next worker resumes the run from its journal and dies at the next point, and a
 * last worker finishes it. The same script runs once, uncrashed, in another project first.
 *
 * Required: the crashed project's workspace ends byte-identical to the uncrashed one (same paths,
 * same sha256s, no temporary files left), no change applied twice (the edits would show it: a
 * second application of `count = 1` -> `count = 1 + 1` gives `1 + 1 + 1`), every change-making
 * step `succeeded` (its plan lets recovery tell "applied" from "not applied yet": never
 * unknown_outcome), exactly one final reply, the journal contiguous with one message per step.
 *
 * Each change-making step is killed after it was journalled with its plan (agent:tool-started),
 * while applying it again from that plan (workspace:before-write for writes and edits, a second
 * agent:tool-started for the move, which has no write), and once applied but not journalled
 * (workspace:written on the first edit and the new file, agent:tool-executed on the second edit,
 * the move and the delete). Both "applied" points cannot hit one step: once the file is at its
 * planned version, recovery reports the step without applying anything again.
 *
 * The job lock is 2 s so each re-delivery takes ~3 s instead of the default ~7.
 */

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const tool = (name: string, args: Record<string, unknown>) => `${name} ${JSON.stringify(args)}`;
/** One offline-model turn per line; calls joined by && on a line run in one turn. */
const script = (...turns: string[][]) =>
  ['change the workspace', ...turns.map((calls) => `/tool ${calls.join(' && ')}`)].join('\n');

const APP = "export const count = 1;\nexport const name = 'app';\n";
const APP_EDITED = "export const count = 1 + 1;\nexport const name = 'app';\n";
const README = '# Project\n\nA small project.\n';
const README_EDITED = '# Project\n\nA small project.\nEdited by the agent.\n';
const NOTES = '# Notes\n\ncount is now 1 + 1\n';
const DATA = 'alpha\nbeta\n';
const OLD_LOG = 'old log line\n';

const SEED: Record<string, string> = {
  'src/app.ts': APP,
  'README.md': README,
  'data/a.txt': DATA,
  'tmp/old.log': OLD_LOG,
};

const SCRIPT = script(
  // seq 1 (llm) -> 2, 3
  [tool('list_files', { recursive: true }), tool('read_file', { path: 'src/app.ts' })],
  // seq 4 -> 5
  [
    tool('edit_file', {
      path: 'src/app.ts',
      edits: [{ search: 'count = 1', replace: 'count = 1 + 1' }],
    }),
  ],
  // seq 6 -> 7
  [tool('write_file', { path: 'docs/notes.md', content: NOTES })],
  // seq 8 -> 9, 10
  [tool('read_file', { path: 'docs/notes.md' }), tool('search_files', { pattern: 'count' })],
  // seq 11 -> 12
  [
    tool('edit_file', {
      path: 'README.md',
      edits: [
        { search: 'A small project.\n', replace: 'A small project.\nEdited by the agent.\n' },
      ],
    }),
  ],
  // seq 13 -> 14
  [tool('move_file', { from: 'data/a.txt', to: 'archive/a.txt' })],
  // seq 15 -> 16; seq 17 is the final answer
  [tool('delete_file', { path: 'tmp/old.log' })],
);

/** The journal every run of the script must end with (kind, name, status). */
const JOURNAL = [
  ['llm', 'offline', 'succeeded'],
  ['tool', 'list_files', 'succeeded'],
  ['tool', 'read_file', 'succeeded'],
  ['llm', 'offline', 'succeeded'],
  ['tool', 'edit_file', 'succeeded'],
  ['llm', 'offline', 'succeeded'],
  ['tool', 'write_file', 'succeeded'],
  ['llm', 'offline', 'succeeded'],
  ['tool', 'read_file', 'succeeded'],
  ['tool', 'search_files', 'succeeded'],
  ['llm', 'offline', 'succeeded'],
  ['tool', 'edit_file', 'succeeded'],
  ['llm', 'offline', 'succeeded'],
  ['tool', 'move_file', 'succeeded'],
  ['llm', 'offline', 'succeeded'],
  ['tool', 'delete_file', 'succeeded'],
  ['llm', 'offline', 'succeeded'],
];
const CHANGE_STEPS = [5, 7, 12, 14, 16];

/** A file's expected state at a kill: its content, or null for "no file". */
type Files = Record<string, string | null>;

interface Kill {
  /** CODELAB_CRASH_AT for the worker (passes counted from its own start). */
  at: string;
  /** The journal's last step when the worker died: `seq:status` ('-' for an empty journal). */
  tail: string;
  /** Files of the crashed project at that moment. */
  files?: Files;
  /** The run's status and whether its memory was stored, where that is what the point tests. */
  run?: { status: string; memories: number };
}

/*
 * Each worker resumes the run where the previous one died and dies at its own point: the list
 * follows the run's progress. A worker's passes of a point count from its start (`#n`: the n-th).
 */
const KILLS: Kill[] = [
  { at: 'run:claimed', tail: '-' }, // claimed, nothing journalled
  { at: 'agent:llm-started', tail: '1:started' }, // turn 1 started, model not called
  { at: 'agent:llm-finished', tail: '1:succeeded' }, // turn 1 committed: list + read
  // list committed, read (ran beside it) not: the read runs again
  { at: 'agent:tool-finished', tail: '3:started' },
  { at: 'agent:llm-finished', tail: '4:succeeded' }, // read re-run; turn 2 committed: the edit
  // Edit src/app.ts (seq 5).
  { at: 'agent:tool-started', tail: '5:started', files: { 'src/app.ts': APP } }, // plan journalled
  { at: 'workspace:before-write', tail: '5:started', files: { 'src/app.ts': APP } }, // re-applying
  { at: 'workspace:written', tail: '5:started', files: { 'src/app.ts': APP_EDITED } }, // applied
  { at: 'agent:llm-started', tail: '6:started', files: { 'src/app.ts': APP_EDITED } }, // recovered
  // New file docs/notes.md (seq 7).
  { at: 'agent:tool-started', tail: '7:started', files: { 'docs/notes.md': null } },
  { at: 'workspace:before-write', tail: '7:started', files: { 'docs/notes.md': null } },
  { at: 'workspace:written', tail: '7:started', files: { 'docs/notes.md': NOTES } },
  // write recovered as applied; turn 4 (read notes + search): search started, not committed
  { at: 'agent:tool-finished', tail: '10:started', files: { 'docs/notes.md': NOTES } },
  { at: 'agent:llm-finished', tail: '11:succeeded' }, // search re-run; turn 5 committed
  // Edit README.md (seq 12).
  { at: 'agent:tool-started', tail: '12:started', files: { 'README.md': README } },
  { at: 'workspace:before-write', tail: '12:started', files: { 'README.md': README } },
  { at: 'agent:tool-executed', tail: '12:started', files: { 'README.md': README_EDITED } },
  // Move data/a.txt -> archive/a.txt (seq 14): no file write, so no workspace points.
  {
    at: 'agent:tool-started', // edit recovered as applied; turn 6; the move journalled
    tail: '14:started',
    files: { 'README.md': README_EDITED, 'data/a.txt': DATA, 'archive/a.txt': null },
  },
  {
    at: 'agent:tool-started', // the move again from its plan (not applied yet), killed again
    tail: '14:started',
    files: { 'data/a.txt': DATA, 'archive/a.txt': null },
  },
  {
    at: 'agent:tool-executed', // moved, not journalled
    tail: '14:started',
    files: { 'data/a.txt': null, 'archive/a.txt': DATA },
  },
  // Delete tmp/old.log (seq 16).
  {
    at: 'agent:tool-started',
    tail: '16:started',
    files: { 'archive/a.txt': DATA, 'tmp/old.log': OLD_LOG },
  },
  { at: 'agent:tool-executed', tail: '16:started', files: { 'tmp/old.log': null } },
  { at: 'agent:llm-started', tail: '17:started', files: { 'tmp/old.log': null } }, // recovered
  // The final answer.
  { at: 'agent:llm-finished', tail: '17:succeeded', run: { status: 'running', memories: 0 } },
  { at: 'agent:final', tail: '17:succeeded', run: { status: 'running', memories: 0 } },
  { at: 'agent:remembered', tail: '17:succeeded', run: { status: 'running', memories: 1 } },
  { at: 'run:settled', tail: '17:succeeded', run: { status: 'completed', memories: 1 } },
];

/** How each step's attempts end up: the steps a kill interrupted while started ran again. */
const ATTEMPTS = [2, 1, 2, 1, 3, 2, 3, 1, 1, 2, 1, 3, 1, 3, 1, 2, 2];

/** Every entry under `root`: directories as 'dir', files as their sha256 (symlinks as such). */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const stats = lstatSync(join(root, path));
      if (stats.isDirectory()) {
        out[`${path}/`] = 'dir';
        walk(path);
      } else if (stats.isSymbolicLink()) out[path] = `symlink:${readlinkSync(join(root, path))}`;
      else if (stats.isFile()) out[path] = sha(readFileSync(join(root, path)));
      else out[path] = 'other';
    }
  };
  walk('');
  return out;
}

/** The snapshot both projects must end with, from the script's intended effects. */
const EXPECTED_SNAPSHOT: Record<string, string> = {
  'README.md': sha(README_EDITED),
  'archive/': 'dir',
  'archive/a.txt': sha(DATA),
  'data/': 'dir',
  'docs/': 'dir',
  'docs/notes.md': sha(NOTES),
  'src/': 'dir',
  'src/app.ts': sha(APP_EDITED),
  'tmp/': 'dir',
};

// Deadlines: one kill normally takes ~3-5 s (start-up, the 2 s lock to lapse, the re-delivery).
const DIE_DEADLINE_MS = 45_000;
const RUN_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 30_000;

interface StepRow {
  seq: number;
  kind: string;
  name: string;
  status: string;
  attempts: number;
  message_id: string | null;
}
interface MessageRow {
  role: string;
  step_seq: number | null;
  tool_calls: unknown;
  content: string;
}

describe('kill points of a workspace-changing run (fault)', () => {
  let t: TestApp;
  let db: RunsDb;
  let user: TestUser;
  let fleet: WorkerFleet;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'api' } });
    db = new RunsDb(t.config.databaseUrl);
    user = await registerUser(t.http);
    fleet = new WorkerFleet({
      env: workerEnvFor(t, TEST_REDIS_URL, {
        RUN_JOB_LOCK_MS: '2000',
        // 27 kills of one run: more than the default dead-letter threshold (10).
        RUN_MAX_STALLS: '40',
        LOG_LEVEL: 'warn',
      }),
    });
  }, 120_000);

  afterAll(async () => {
    await fleet?.destroy().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await t?.close().catch(() => undefined);
  }, 60_000);

  const rootOf = (projectId: string) => join(t.config.workspace.dir, projectId);

  /** A project with the seed files, its coder allowed to change files without approval. */
  const seededProject = async (name: string) => {
    const projectId = await createProject(t.http, user, name);
    const agents = (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(user.auth)).body
      .items as { id: string; name: string }[];
    const coder = agents.find((a) => a.name === 'CodeAssistant')!;
    await t.http
      .patch(`/v1/my/projects/${projectId}/agents/${coder.id}`)
      .set(user.auth)
      .send({ approval_tools: [] })
      .expect(200);
    for (const [path, content] of Object.entries(SEED)) {
      const file = join(rootOf(projectId), path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, content);
    }
    const sid = await createSession(t.http, user, projectId, { agent: 'CodeAssistant' });
    return { projectId, sid };
  };

  const journalOf = (runId: string) =>
    db.query<StepRow>(
      'select seq, kind, name, status, attempts, message_id from run_steps where run_id = $1 order by seq',
      [runId],
    );
  const messagesOf = (sid: string) =>
    db.query<MessageRow>(
      'select role, step_seq, tool_calls, content from messages where session_id = $1 order by seq',
      [sid],
    );
  const fileState = (projectId: string, files: Files) =>
    Object.fromEntries(
      Object.keys(files).map((path) => {
        const file = join(rootOf(projectId), path);
        return [path, existsSync(file) ? sha(readFileSync(file)) : null];
      }),
    );
  const expectedState = (files: Files) =>
    Object.fromEntries(Object.entries(files).map(([p, c]) => [p, c === null ? null : sha(c)]));

  it(
    'survives a kill -9 at each of 27 step boundaries: the workspace byte-identical, no change twice, one reply',
    async () => {
      const started = Date.now();

      // 1. The uncrashed baseline: one normal worker, then a graceful stop (its job acknowledged).
      const a = await seededProject('workspace-baseline');
      const baseline = await fleet.spawn(0, true);
      const { run: runA } = await sendMessage(t.http, user, a.projectId, a.sid, {
        content: SCRIPT,
      });
      const doneA = await waitForRun(
        t.http,
        user,
        a.projectId,
        a.sid,
        runA.id,
        undefined,
        RUN_DEADLINE_MS,
      );
      signalGroup(baseline.app.child, 'SIGTERM');
      const baselineExit = await withDeadline(
        'the baseline worker to stop',
        baseline.app.exited,
        STOP_DEADLINE_MS,
      );
      const snapshotA = snapshot(rootOf(a.projectId));
      const stepsA = await journalOf(runA.id);
      const messagesA = await messagesOf(a.sid);
      const baselineMs = Date.now() - started;

      // 2. The same script in another project, killed at each point in turn.
      const b = await seededProject('workspace-kill-points');
      const { run } = await sendMessage(t.http, user, b.projectId, b.sid, { content: SCRIPT });
      const killed: {
        at: string;
        signal: string | null;
        code: number | null;
        tail: string;
        files?: Record<string, string | null>;
        run?: { status: string; memories: number };
        ms: number;
      }[] = [];
      for (const kill of KILLS) {
        const from = Date.now();
        const worker = await fleet.spawn(0, false, { CODELAB_CRASH_AT: kill.at });
        const code = await withDeadline(
          `a worker to die at ${kill.at}`,
          worker.app.exited,
          DIE_DEADLINE_MS,
        ).catch(() => 'timeout' as const);
        if (code === 'timeout') await fleet.kill(0);
        const steps = await journalOf(run.id);
        const last = steps.at(-1);
        const [state] = await db.query<{ status: string; memories: number }>(
          `select status, (select count(*)::int from agent_memories where id = $1) as memories
           from runs where id = $1`,
          [run.id],
        );
        killed.push({
          at: kill.at,
          signal: code === 'timeout' ? 'timeout' : worker.app.child.signalCode,
          code: code === 'timeout' ? null : code,
          tail: last ? `${last.seq}:${last.status}` : '-',
          ...(kill.files ? { files: fileState(b.projectId, kill.files) } : {}),
          ...(kill.run ? { run: state } : {}),
          ms: Date.now() - from,
        });
        // A point not reached: the worker went on with the run; what follows would be off.
        if (code === 'timeout') break;
      }
      const last = await fleet.spawn(0, true);
      // (A run that never finishes is reported in the figures, then fails the assertions.)
      const done: { status: string } = await waitForRun(
        t.http,
        user,
        b.projectId,
        b.sid,
        run.id,
        undefined,
        RUN_DEADLINE_MS,
      ).catch((error: Error) => ({ status: `not finished: ${error.message}` }));
      const snapshotB = snapshot(rootOf(b.projectId));
      const steps = await journalOf(run.id);
      const messages = await messagesOf(b.sid);
      const [row] = await db.query<{ executions: number }>(
        'select executions from runs where id = $1',
        [run.id],
      );
      const [{ memories }] = await db.query<{ memories: number }>(
        'select count(*)::int as memories from agent_memories where id = $1',
        [run.id],
      );
      const finalReplies = (m: MessageRow[]) =>
        m.filter((x) => x.role === 'assistant' && x.tool_calls === null);
      const differing = [...new Set([...Object.keys(snapshotA), ...Object.keys(snapshotB)])]
        .filter((p) => snapshotA[p] !== snapshotB[p])
        .sort();

      /** The run's messages before its final answer: calls made and tool results, as JSON. */
      const conversation = (m: MessageRow[]) =>
        m
          .filter((x) => x.step_seq !== null && !finalReplies([x]).length)
          .map((x) => [
            x.step_seq,
            x.role,
            x.role === 'tool' ? (JSON.parse(x.content) as unknown) : x.tool_calls,
          ]);
      // Tool results whose text differs from the uncrashed run's though equal as JSON.
      const textA = new Map(messagesA.map((x) => [x.step_seq, x.content]));
      const reworded = messages
        .filter((x) => x.role === 'tool' && x.content !== textA.get(x.step_seq))
        .map((x) => x.step_seq);

      faultMetrics('workspace-kill-points', {
        points: KILLS.length,
        runtime_s: Math.round((Date.now() - started) / 1000),
        baseline_s: Math.round(baselineMs / 1000),
        kill_s: Math.round(killed.reduce((n, k) => n + k.ms, 0) / 1000),
        killed: killed.map((k) => `${k.at}:${k.signal}@${k.tail}`),
        status: { baseline: doneA.status, crashed: done.status },
        executions: row.executions,
        steps: steps.map((s) => `${s.seq}:${s.kind}:${s.name}:${s.status}:x${s.attempts}`),
        change_steps: steps
          .filter((s) => CHANGE_STEPS.includes(s.seq))
          .map((s) => `${s.seq}:${s.name}:${s.status}:x${s.attempts}`),
        workspace_equal: differing.length === 0,
        differing,
        temp_files: Object.keys(snapshotB).filter((p) => p.includes('.codelab-tmp-')),
        final_replies: {
          baseline: finalReplies(messagesA).length,
          crashed: finalReplies(messages).length,
        },
        tool_results_text_differs_at: reworded,
        memories,
        last_worker_alive: fleet.alive(last.slot),
      });

      // The baseline is what the script means: each change applied once, nothing else.
      expect(doneA.status).toBe('completed');
      expect(baselineExit).toBe(0);
      expect(snapshotA).toEqual(EXPECTED_SNAPSHOT);
      expect(stepsA.map((s) => [s.kind, s.name, s.status])).toEqual(JOURNAL);
      expect(stepsA.map((s) => s.attempts)).toEqual(JOURNAL.map(() => 1));

      // Every worker died by SIGKILL at its point, with the journal and the files where the point
      // says: the plan journalled before anything changed, applied and not yet journalled, ...
      expect(killed).toEqual(
        KILLS.map((k) => ({
          at: k.at,
          signal: 'SIGKILL',
          code: null,
          tail: k.tail,
          ...(k.files ? { files: expectedState(k.files) } : {}),
          ...(k.run ? { run: k.run } : {}),
          ms: expect.any(Number) as number,
        })),
      );
      expect(done.status).toBe('completed');
      expect(row.executions).toBeGreaterThanOrEqual(KILLS.length);

      // The crashed project's workspace is byte-identical to the uncrashed one: no edit applied
      // twice (`1 + 1 + 1`, a doubled README line), nothing lost, no temporary file left.
      expect(differing).toEqual([]);
      expect(snapshotB).toEqual(snapshotA);
      // And the model read the same: a result recovered from the journal is worded as the original.
      expect(reworded).toEqual([]);

      // The journal: contiguous, the same steps as uncrashed, every change `succeeded` (recovered
      // from its plan, never unknown_outcome), each step with its message; the attempts show
      // exactly which steps a kill interrupted while started.
      expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i + 1));
      expect(steps.map((s) => [s.kind, s.name, s.status])).toEqual(JOURNAL);
      expect(steps.map((s) => s.attempts)).toEqual(ATTEMPTS);
      for (const s of steps) expect(s.message_id).not.toBeNull();
      const ofRun = messages.filter((m) => m.step_seq !== null);
      expect(ofRun.map((m) => m.step_seq)).toEqual(steps.map((s) => s.seq));

      // The model was told the same as uncrashed: the same calls, and each tool result the same
      // (recovered steps report what an applied one does; compared as JSON: a recovered output
      // comes back from the jsonb plan, its keys in PostgreSQL's order), then answered once.
      expect(conversation(messages)).toEqual(conversation(messagesA));
      expect(finalReplies(messages)).toHaveLength(1);
      expect(finalReplies(messagesA)).toHaveLength(1);
      expect(memories).toBe(1);
    },
    120_000 + KILLS.length * DIE_DEADLINE_MS + 2 * RUN_DEADLINE_MS + STOP_DEADLINE_MS,
  );
});
