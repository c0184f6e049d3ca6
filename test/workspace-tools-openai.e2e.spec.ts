import { writeFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createTestApp, registerUser, type TestApp, type TestUser } from './support/test-app';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';
import { OpenAiStub } from './support/openai-stub';

/**
 * The workspace tools driven by the real OpenAI client path (ChatOpenAI against a local stub):
 * two parallel tool calls in one turn with their arguments split across stream chunks, then a
 * call whose arguments are not JSON, then the answer.
 */
describe('workspace tools over the OpenAI-compatible client (e2e, stub server)', () => {
  const stub = new OpenAiStub();
  let t: TestApp;
  let alice: TestUser;
  let projectId: string;

  beforeAll(async () => {
    await stub.start();
    t = await createTestApp({
      env: {
        APP_ROLE: 'all',
        LLM_PROVIDER: 'openai',
        OPENAI_API_KEY: 'sk-test',
        OPENAI_BASE_URL: stub.baseUrl,
        EMBEDDINGS_PROVIDER: 'local',
        LLM_RETRY_BASE_DELAY_MS: '10',
      },
    });
    alice = await registerUser(t.http);
    projectId = await createProject(t.http, alice, 'openai-tools');
  });
  afterAll(async () => {
    await t?.close();
    await stub.stop();
  });

  it('runs split, parallel tool calls, answers invalid arguments with a tool error, and finishes', async () => {
    const root = join(t.config.workspace.dir, projectId);
    mkdirSync(join(root, 'src'), { recursive: true });
    await writeFile(join(root, 'src/a.ts'), 'export const a = 1;\n');
    await writeFile(join(root, 'src/b.ts'), 'export const b = 2;\n');
    const agents = (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(alice.auth)).body
      .items as { id: string; name: string }[];
    const coder = agents.find((a) => a.name === 'CodeAssistant')!;
    await t.http
      .patch(`/v1/my/projects/${projectId}/agents/${coder.id}`)
      .set(alice.auth)
      .send({ model: 'stub-model', approval_tools: [], memory_enabled: false })
      .expect(200);

    stub.respondWith(
      {
        kind: 'tool_calls',
        pieces: 4,
        calls: [
          { name: 'read_file', arguments: JSON.stringify({ path: 'src/a.ts' }) },
          { name: 'read_file', arguments: JSON.stringify({ path: 'src/b.ts' }) },
        ],
      },
      {
        kind: 'tool_calls',
        calls: [
          // Not JSON at all (a truncated object would be completed by the client's parser).
          { name: 'write_file', arguments: '{"path": x.ts, content: ]' },
          { name: 'format_disk', arguments: '{}' },
        ],
      },
      { kind: 'stream', tokens: ['Both ', 'files ', 'read.'] },
    );
    const sid = await createSession(t.http, alice, projectId, { agent: 'CodeAssistant' });
    const { run } = await sendMessage(t.http, alice, projectId, sid, { content: 'read a and b' });
    const done = await waitForRun(t.http, alice, projectId, sid, run.id);
    expect(done.status).toBe('completed');

    const base = `/v1/my/projects/${projectId}/sessions/${sid}`;
    const steps = (await t.http.get(`${base}/runs/${run.id}/steps`).set(alice.auth).expect(200))
      .body.items as {
      kind: string;
      name: string;
      status: string;
      args: Record<string, unknown>;
      result: { output?: { content?: string } } | null;
      error: { code: string } | null;
    }[];
    expect(steps.map((s) => [s.kind, s.name, s.status, s.error?.code ?? null])).toEqual([
      ['llm', 'stub-model', 'succeeded', null],
      ['tool', 'read_file', 'succeeded', null],
      ['tool', 'read_file', 'succeeded', null],
      ['llm', 'stub-model', 'succeeded', null],
      ['tool', 'write_file', 'failed', 'INVALID_ARGUMENTS'],
      ['tool', 'format_disk', 'failed', 'UNKNOWN_TOOL'],
      ['llm', 'stub-model', 'succeeded', null],
    ]);
    expect(steps[1].args).toEqual({ path: 'src/a.ts' });
    expect(steps[2].args).toEqual({ path: 'src/b.ts' });
    expect(steps[1].result?.output?.content).toBe('export const a = 1;\n');
    expect(steps[2].result?.output?.content).toBe('export const b = 2;\n');

    // What the model was sent back: each tool result under its call's id, in call order.
    const chats = stub.requests.filter((r) => r.path.endsWith('/chat/completions'));
    expect(chats).toHaveLength(3);
    const second = chats[1].body.messages as {
      role: string;
      tool_call_id?: string;
      content: string;
    }[];
    const toolMessages = second.filter((m) => m.role === 'tool');
    expect(toolMessages.map((m) => m.tool_call_id)).toEqual(['call_stub_1', 'call_stub_2']);
    expect(toolMessages[0].content).toContain('export const a = 1;');
    const third = chats[2].body.messages as {
      role: string;
      tool_call_id?: string;
      content: string;
    }[];
    const [refused, unknown] = third.filter((m) => m.role === 'tool').slice(-2);
    expect(refused.tool_call_id).toBe('call_stub_1');
    expect(refused.content).toContain('INVALID_ARGUMENTS');
    expect(unknown.tool_call_id).toBe('call_stub_2');
    expect(unknown.content).toContain('UNKNOWN_TOOL');
    const messages = (await t.http.get(`${base}/messages`).set(alice.auth).expect(200)).body
      .items as { role: string; content: string }[];
    expect(messages.at(-1)).toMatchObject({ role: 'assistant', content: 'Both files read.' });
  });
});
