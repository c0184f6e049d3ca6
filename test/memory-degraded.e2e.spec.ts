import request from 'supertest';
import { MetricsServer } from '@codelab/platform';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';
import { OpenAiStub } from './support/openai-stub';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';

/**
 * An OpenAI-compatible endpoint that serves chat but not embeddings (many vLLM, Ollama and
 * gateway set-ups): runs answer without memory, say so, and count it; memory search says 503.
 */
describe('memory unavailable: chat-only OpenAI-compatible endpoint (e2e, stub)', () => {
  const stub = new OpenAiStub();
  let t: TestApp;
  let user: TestUser;
  let projectId: string;

  beforeAll(async () => {
    await stub.start();
    t = await createTestApp({
      env: {
        APP_ROLE: 'all',
        LLM_PROVIDER: 'openai',
        OPENAI_API_KEY: 'sk-test',
        OPENAI_BASE_URL: stub.baseUrl,
        EMBEDDINGS_PROVIDER: 'openai',
        LLM_TIMEOUT_MS: '5000',
      },
    });
    user = await registerUser(t.http);
    projectId = await createProject(t.http, user);
  });
  afterAll(async () => {
    await t.close();
    await stub.stop();
  });

  const metric = async (labels: string): Promise<number> => {
    const text = (await request(t.app.get(MetricsServer).server).get('/metrics').expect(200)).text;
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`codelab_memory_unavailable_total{${labels}}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it.each(['missing', 'empty'] as const)(
    'completes runs with a reply when embeddings are %s, and records that memory was unavailable',
    async (behaviour) => {
      stub.embeddings = behaviour;
      stub.respondWith({ kind: 'stream', tokens: ['Answered', ' anyway'] });
      const recallsBefore = await metric('operation="recall",component="embeddings"');
      const remembersBefore = await metric('operation="remember",component="embeddings"');

      const sid = await createSession(t.http, user, projectId);
      const { run } = await sendMessage(t.http, user, projectId, sid, {
        content: `what do you remember (${behaviour})?`,
      });
      const done = await waitForRun(t.http, user, projectId, sid, run.id);
      expect(done.status).toBe('completed');
      expect(done.error).toBeNull();
      const codes = (done as unknown as { warnings: { code: string; message: string }[] }).warnings;
      expect(codes.map((w) => w.code)).toEqual(['MEMORY_UNAVAILABLE', 'MEMORY_UNAVAILABLE']);
      expect(codes[0].message).toMatch(/recall failed \(embeddings endpoint\)/);
      expect(codes[1].message).toMatch(/was not stored in memory/);

      const messages = (
        await t.http.get(`/v1/my/projects/${projectId}/sessions/${sid}/messages`).set(user.auth)
      ).body.items as { role: string; content: string; metadata: Record<string, unknown> }[];
      expect(messages.map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(messages[1].content).toBe('Answered anyway');
      expect(messages[1].metadata).toMatchObject({ memory: 'unavailable', memory_hits: 0 });
      // The chat call did reach the endpoint; the embeddings calls were tried and failed.
      expect(stub.requests.some((r) => r.path.endsWith('/chat/completions'))).toBe(true);
      expect(stub.requests.some((r) => r.path.endsWith('/embeddings'))).toBe(true);

      expect(await metric('operation="recall",component="embeddings"')).toBe(recallsBefore + 1);
      expect(await metric('operation="remember",component="embeddings"')).toBe(remembersBefore + 1);
    },
  );

  it('answers memory search with 503 problem+json and Retry-After, not 500', async () => {
    stub.embeddings = 'missing';
    const agents = (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(user.auth)).body
      .items as { id: string }[];
    const res = await t.http
      .get(`/v1/my/projects/${projectId}/agents/${agents[0].id}/memory?q=anything`)
      .set(user.auth);
    expectProblem(res, 503, 'MEMORY_UNAVAILABLE');
    expect(res.headers['retry-after']).toBe('30');
  });

  it('uses memory again once the endpoint serves embeddings', async () => {
    stub.embeddings = 'ok';
    stub.respondWith({ kind: 'stream', tokens: ['With memory'] });
    const sid = await createSession(t.http, user, projectId);
    const { run } = await sendMessage(t.http, user, projectId, sid, { content: 'remember me' });
    const done = await waitForRun(t.http, user, projectId, sid, run.id);
    expect(done.status).toBe('completed');
    expect((done as unknown as { warnings: unknown[] }).warnings).toEqual([]);
  });
});
