import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestApp, registerUser, type TestApp, type TestUser } from './support/test-app';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';
import { listenUrl, TestSseClient } from './support/sse-client';

interface StepView {
  seq: number;
  kind: string;
  name: string;
  status: string;
  effect: string;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

interface MessageView {
  role: string;
  content: string;
  tool_call_id: string | null;
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const tool = (name: string, args: Record<string, unknown>) => `${name} ${JSON.stringify(args)}`;
/** One offline-model turn per line; calls joined by && on a line run in one turn. */
const script = (...turns: string[][]) =>
  ['work', ...turns.map((calls) => `/tool ${calls.join(' && ')}`)].join('\n');

/** Agents working on the project's workspace through the tools, end to end (API + worker). */
describe('workspace tools (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let projectId: string;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'all', TOOL_OUTPUT_MAX_BYTES: '4096' } });
    await t.app.listen(0, '127.0.0.1');
    alice = await registerUser(t.http);
    projectId = await createProject(t.http, alice, 'tools');
  });
  afterAll(async () => {
    await t.close();
  });

  const root = () => join(t.config.workspace.dir, projectId);
  const agents = async () =>
    (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(alice.auth).expect(200)).body
      .items as { id: string; name: string; role: string }[];
  const agentNamed = async (name: string, role: string) => {
    const existing = (await agents()).find((a) => a.name === name);
    if (existing) return existing.id;
    return (
      await t.http
        .post(`/v1/my/projects/${projectId}/agents`)
        .set(alice.auth)
        .send({ name, role, approval_tools: [] })
        .expect(201)
    ).body.id as string;
  };
  const configure = async (name: string, changes: Record<string, unknown>) => {
    const id = (await agents()).find((a) => a.name === name)!.id;
    await t.http
      .patch(`/v1/my/projects/${projectId}/agents/${id}`)
      .set(alice.auth)
      .send(changes)
      .expect(200);
  };
  /** Runs a script as `agent` in a new session: the run, its steps and the messages. */
  const play = async (agent: string, content: string) => {
    const sid = await createSession(t.http, alice, projectId, { agent });
    const { run } = await sendMessage(t.http, alice, projectId, sid, { content });
    const done = await waitForRun(t.http, alice, projectId, sid, run.id);
    const base = `/v1/my/projects/${projectId}/sessions/${sid}`;
    const steps = (await t.http.get(`${base}/runs/${run.id}/steps`).set(alice.auth).expect(200))
      .body.items as StepView[];
    const messages = (await t.http.get(`${base}/messages`).set(alice.auth).expect(200)).body
      .items as MessageView[];
    return { run: done, steps, tools: steps.filter((s) => s.kind === 'tool'), messages };
  };
  const readRest = async (path: string) =>
    (
      await t.http
        .get(`/v1/my/projects/${projectId}/workspace/files`)
        .query({ path })
        .set(alice.auth)
        .buffer(true)
        .parse((res, done) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => done(null, Buffer.concat(chunks)));
        })
        .expect(200)
    ).body.toString() as string;

  const settings = (changes: Record<string, unknown>) =>
    t.http
      .patch(`/v1/my/projects/${projectId}`)
      .set(alice.auth)
      .send({ settings: changes })
      .expect(200);

  it('drives a coder through list -> read -> edit -> write -> a command, and the user reads the result', async () => {
    await configure('CodeAssistant', { approval_tools: [] });
    await settings({ commands_enabled: true, commands_need_approval: false });
    await mkdir(join(root(), 'src'), { recursive: true });
    await writeFile(join(root(), 'src/app.ts'), 'export const greeting = "hello";\n');
    const { run, tools } = await play(
      'CodeAssistant',
      script(
        [tool('list_files', { recursive: true })],
        [tool('read_file', { path: 'src/app.ts' }), tool('search_files', { pattern: 'greeting' })],
        [
          tool('edit_file', {
            path: 'src/app.ts',
            edits: [{ search: '"hello"', replace: '"hello, world"' }],
          }),
        ],
        [tool('write_file', { path: 'docs/notes.md', content: '# Notes\n' })],
        [
          tool('run_command', {
            command: 'grep -c hello src/app.ts > docs/count.txt; cat docs/notes.md; env',
          }),
        ],
      ),
    );
    expect(run.status).toBe('completed');
    expect(tools.map((s) => [s.name, s.effect, s.status])).toEqual([
      ['list_files', 'read', 'succeeded'],
      ['read_file', 'read', 'succeeded'],
      ['search_files', 'read', 'succeeded'],
      ['edit_file', 'write', 'succeeded'],
      ['write_file', 'write', 'succeeded'],
      ['run_command', 'exec', 'succeeded'],
    ]);
    const [list, read, search, edit, write, command] = tools.map((s) => s.result?.output as never);
    expect(command).toMatchObject({ exit_code: 0, timed_out: false });
    expect((command as { stdout: string }).stdout).toContain('# Notes');
    // The sandbox's environment is its own: nothing of the worker's leaks in.
    expect((command as { stdout: string }).stdout).not.toMatch(/JWT_SECRET|DATABASE_URL|REDIS_URL/);
    expect(await readRest('docs/count.txt')).toBe('1\n');
    expect(list).toMatchObject({
      entries: [
        { path: 'src', type: 'directory' },
        { path: 'src/app.ts', type: 'file' },
      ],
    });
    expect(read).toMatchObject({
      path: 'src/app.ts',
      total_lines: 2,
      sha256: sha('export const greeting = "hello";\n'),
    });
    expect(search).toMatchObject({ matches: [{ path: 'src/app.ts', line: 1 }] });
    expect(edit).toMatchObject({
      path: 'src/app.ts',
      edits_applied: 1,
      sha256: sha('export const greeting = "hello, world";\n'),
    });
    expect(write).toMatchObject({ path: 'docs/notes.md', created: true });
    expect(await readRest('src/app.ts')).toBe('export const greeting = "hello, world";\n');
    expect(await readRest('docs/notes.md')).toBe('# Notes\n');
  });

  it('holds the role limits: architect writes only Markdown, debug cannot write, ask has no workspace tools', async () => {
    await agentNamed('Architect', 'architect');
    const architect = await play(
      'Architect',
      script(
        [tool('write_file', { path: 'src/a.ts', content: 'nope' })],
        [tool('write_file', { path: 'design/adr-1.md', content: '# ADR 1\n' })],
      ),
    );
    expect(architect.tools.map((s) => [s.name, s.status, s.error?.code ?? null])).toEqual([
      ['write_file', 'failed', 'TOOL_DENIED'],
      ['write_file', 'succeeded', null],
    ]);
    expect(existsSync(join(root(), 'src/a.ts'))).toBe(false);
    expect(await readFile(join(root(), 'design/adr-1.md'), 'utf8')).toBe('# ADR 1\n');

    // A symlink inside the workspace is followed for the decision: a .md name that points at
    // code is judged as the code it writes to.
    await symlink('../src/app.ts', join(root(), 'design/sneaky.md'));
    const sneaky = await play(
      'Architect',
      script([tool('write_file', { path: 'design/sneaky.md', content: 'overwritten' })]),
    );
    expect(sneaky.tools[0]).toMatchObject({ status: 'failed', error: { code: 'TOOL_DENIED' } });
    expect(await readFile(join(root(), 'src/app.ts'), 'utf8')).toContain('hello, world');

    await agentNamed('Debugger', 'debug');
    const debug = await play(
      'Debugger',
      script(
        [tool('read_file', { path: 'src/app.ts' })],
        [tool('delete_file', { path: 'src/app.ts' })],
      ),
    );
    // The debug agent has no write tools at all: the model is never offered delete_file.
    expect(debug.tools.map((s) => [s.name, s.status])).toEqual([['read_file', 'succeeded']]);
    expect(existsSync(join(root(), 'src/app.ts'))).toBe(true);

    await agentNamed('Helper', 'ask');
    const ask = await play('Helper', script([tool('read_file', { path: 'src/app.ts' })]));
    expect(ask.tools).toEqual([]);
    expect(ask.run.status).toBe('completed');
  });

  it('follows the project settings: commands off, commands awaiting approval, denied paths', async () => {
    await writeFile(join(root(), 'secret-plan.md'), 'classified');
    await settings({ commands_enabled: false, agent_denied_paths: ['secret-*'] });
    const off = await play(
      'CodeAssistant',
      script(
        [tool('run_command', { command: 'touch pwned' })],
        [tool('read_file', { path: 'secret-plan.md' })],
        [tool('list_files', {})],
      ),
    );
    expect(off.tools.map((s) => [s.name, s.status, s.error?.code ?? null])).toEqual([
      ['run_command', 'failed', 'TOOL_DENIED'],
      ['read_file', 'failed', 'TOOL_DENIED'],
      ['list_files', 'succeeded', null],
    ]);
    expect(existsSync(join(root(), 'pwned'))).toBe(false);
    const listed = (off.tools[2].result?.output as { entries: { path: string }[] }).entries;
    expect(listed.map((e) => e.path)).not.toContain('secret-plan.md');
    expect(listed.map((e) => e.path)).not.toContain('.env');

    // Commands allowed, but (by default) each waits for the user: the run parks.
    await settings({
      commands_enabled: true,
      commands_need_approval: true,
      agent_denied_paths: [],
    });
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: script([tool('run_command', { command: 'touch pwned' })]),
    });
    await waitForRun(t.http, alice, projectId, sid, run.id, ['awaiting_approval']);
    expect(existsSync(join(root(), 'pwned'))).toBe(false);
    await t.http
      .post(`/v1/my/projects/${projectId}/sessions/${sid}/runs/${run.id}/cancel`)
      .set(alice.auth)
      .expect(202);
    await settings({ commands_need_approval: false });
  });

  it('turns bad calls into tool errors the model reads, never a crashed run', async () => {
    await writeFile(join(root(), '.env'), 'SECRET=1\n');
    await writeFile(join(t.config.workspace.dir, 'outside.txt'), 'outside secret');
    await symlink(join(t.config.workspace.dir, 'outside.txt'), join(root(), 'link-out'));
    await writeFile(join(root(), 'twice.txt'), 'a a\n');
    const { run, tools, messages } = await play(
      'CodeAssistant',
      script(
        [tool('write_file', { path: 'x.txt' })],
        [tool('read_file', { path: '.env' })],
        [tool('read_file', { path: '../outside.txt' })],
        [tool('read_file', { path: 'link-out' })],
        [tool('edit_file', { path: 'twice.txt', edits: [{ search: 'a', replace: 'b' }] })],
        [tool('read_file', { path: 'missing.txt' })],
        [tool('search_files', { pattern: 'a a', path: 'twice.txt' })],
        [tool('search_files', { pattern: 'x', path: 'nowhere' })],
        [tool('search_files', { pattern: '(a+)+$' })],
        [tool('search_files', { pattern: 'a\u0000b' })],
      ),
    );
    expect(run.status).toBe('completed');
    expect(tools.map((s) => [s.name, s.status, s.error?.code ?? null])).toEqual([
      ['write_file', 'failed', 'INVALID_ARGUMENTS'],
      ['read_file', 'failed', 'TOOL_DENIED'],
      ['read_file', 'failed', 'INVALID_PATH'],
      ['read_file', 'failed', 'PATH_ESCAPES_WORKSPACE'],
      ['edit_file', 'failed', 'EDIT_NOT_APPLIED'],
      ['read_file', 'failed', 'FILE_NOT_FOUND'],
      ['search_files', 'succeeded', null],
      ['search_files', 'failed', 'FILE_NOT_FOUND'],
      ['search_files', 'succeeded', null],
      ['search_files', 'failed', 'INVALID_ARGUMENTS'],
    ]);
    expect(tools[4].error?.message).toMatch(/Edit 1 of 1: its search text occurs 2 times/);
    // A file as the search path is searched alone.
    expect(tools[6].result?.output).toMatchObject({
      matches: [{ path: 'twice.txt', line: 1, text: 'a a' }],
    });
    expect(await readFile(join(root(), 'twice.txt'), 'utf8')).toBe('a a\n');
    const toolMessages = messages.filter((m) => m.role === 'tool').map((m) => m.content);
    expect(toolMessages.join('\n')).not.toContain('outside secret');
    expect(toolMessages.join('\n')).not.toContain('SECRET=1');
  });

  it('stops a catastrophic regular expression at the time limit with what it found', async () => {
    await writeFile(join(root(), 'evil.txt'), `${'a'.repeat(40)}!\nfind me\n`);
    const started = Date.now();
    const { tools } = await play(
      'CodeAssistant',
      script([tool('search_files', { pattern: '^(a+)+$', path: '.' })]),
    );
    expect(tools[0].status).toBe('succeeded');
    expect(tools[0].result?.output).toMatchObject({ timed_out: true, truncated: true });
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('caps what the model reads of a large result, and keeps the whole result in the step', async () => {
    const big = Array.from({ length: 3000 }, (_, i) => `line ${i} ${'x'.repeat(20)}`).join('\n');
    await writeFile(join(root(), 'big.txt'), big);
    const { tools, messages } = await play(
      'CodeAssistant',
      script([tool('read_file', { path: 'big.txt', max_bytes: 262144 })]),
    );
    const output = tools[0].result?.output as { content: string; truncated: boolean };
    expect(output.truncated).toBe(false);
    expect(output.content).toBe(big);
    const toolMessage = messages.find((m) => m.role === 'tool')!;
    expect(Buffer.byteLength(toolMessage.content)).toBeLessThan(4096 + 200);
    expect(toolMessage.content).toMatch(
      /\[\.\.\. truncated: \d+ bytes in total; the whole result is in step 2 of this run\]$/,
    );
  });

  it('streams tool_call, tool_result and file_changed over SSE', async () => {
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: script(
        [tool('write_file', { path: 'live/a.txt', content: 'live' })],
        [tool('read_file', { path: 'live/a.txt' })],
      ),
    });
    await waitForRun(t.http, alice, projectId, sid, run.id);
    const sse = await new TestSseClient(
      `${listenUrl(t.app.getHttpServer())}/v1/my/projects/${projectId}/sessions/${sid}/events?from=start`,
      alice.auth,
    ).open();
    try {
      await sse.waitForEvent('run_completed');
      const types = sse.events
        .map((e) => e.event)
        .filter((e) => ['tool_call', 'tool_result', 'file_changed'].includes(e));
      expect(types).toEqual([
        'tool_call',
        'file_changed',
        'tool_result',
        'tool_call',
        'tool_result',
      ]);
      const payload = (type: string, i = 0) =>
        sse.events.filter((e) => e.event === type)[i].json.payload as Record<string, unknown>;
      expect(payload('tool_call')).toMatchObject({
        tool: 'write_file',
        args: { path: 'live/a.txt', content: 'live' },
        step: 2,
      });
      expect(payload('file_changed')).toEqual({ path: 'live/a.txt', sha256: sha('live'), step: 2 });
      expect(payload('tool_result')).toMatchObject({
        tool: 'write_file',
        status: 'succeeded',
        step: 2,
        bytes: expect.any(Number),
        truncated: false,
      });
      expect(String(payload('tool_result', 1).preview)).toContain('"content":"live"');
    } finally {
      sse.close();
    }
  });

  it('moves and deletes files, refusing to overwrite', async () => {
    await writeFile(join(root(), 'm1.txt'), 'one');
    await writeFile(join(root(), 'm2.txt'), 'two');
    const { tools } = await play(
      'CodeAssistant',
      script(
        [tool('move_file', { from: 'm1.txt', to: 'moved/m1.txt' })],
        [tool('move_file', { from: 'm2.txt', to: 'moved/m1.txt' })],
        [tool('delete_file', { path: 'm2.txt', expected_sha256: sha('two') })],
      ),
    );
    expect(tools.map((s) => [s.name, s.status, s.error?.code ?? null])).toEqual([
      ['move_file', 'succeeded', null],
      ['move_file', 'failed', 'PRECONDITION_FAILED'],
      ['delete_file', 'succeeded', null],
    ]);
    expect(await readFile(join(root(), 'moved/m1.txt'), 'utf8')).toBe('one');
    expect(existsSync(join(root(), 'm2.txt'))).toBe(false);
  });
});
