import request from 'supertest';
import { MetricsServer } from '@codelab/platform';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { createTestApp, registerUser, type TestApp, type TestUser } from './support/test-app';
import { OpenAiStub } from './support/openai-stub';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';

/** Runs against the OpenAI-compatible client path, with the provider failing. */
describe('run failures and dead letters (e2e, OpenAI-compatible stub)', () => {
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
        EMBEDDINGS_PROVIDER: 'local',
        LLM_MAX_ATTEMPTS: '2',
        LLM_RETRY_BASE_DELAY_MS: '10',
        LLM_RETRY_MAX_DELAY_MS: '50',
        LLM_TIMEOUT_MS: '2000',
        // Breaker behaviour has its own tests; here every failure must reach the provider.
        LLM_BREAKER_VOLUME_THRESHOLD: '100',
      },
    });
    user = await registerUser(t.http);
    projectId = await createProject(t.http, user);
  });
  afterAll(async () => {
    await t.close();
    await stub.stop();
  });

  it('answers through the real client path when the provider works', async () => {
    stub.respondWith({ kind: 'stream', tokens: ['All', ' good'] });
    const sid = await createSession(t.http, user, projectId);
    const { run } = await sendMessage(t.http, user, projectId, sid, { content: 'hello provider' });
    const done = await waitForRun(t.http, user, projectId, sid, run.id);
    expect(done.status).toBe('completed');
    const messages = (
      await t.http.get(`/v1/my/projects/${projectId}/sessions/${sid}/messages`).set(user.auth)
    ).body.items;
    expect(messages[1].content).toBe('All good');
    // The agent's model and the prompt reached the provider.
    expect(stub.requests[0].body).toMatchObject({ model: 'gpt-4o-mini', stream: true });
    expect(JSON.stringify(stub.requests[0].body.messages)).toContain('hello provider');
  });

  it('retries a transient error within the attempt cap and completes', async () => {
    stub.respondWith(
      { kind: 'status', status: 429, retryAfter: '0' },
      { kind: 'stream', tokens: ['second try'] },
    );
    const sid = await createSession(t.http, user, projectId);
    const { run } = await sendMessage(t.http, user, projectId, sid, { content: 'please' });
    expect((await waitForRun(t.http, user, projectId, sid, run.id)).status).toBe('completed');
    expect(stub.requests).toHaveLength(2);
  });

  it('fails the run with a visible error once attempts are exhausted, and keeps the job as a dead letter', async () => {
    stub.respondWith({ kind: 'status', status: 500 });
    const sid = await createSession(t.http, user, projectId);
    const { run } = await sendMessage(t.http, user, projectId, sid, { content: 'this will fail' });
    const failed = await waitForRun(t.http, user, projectId, sid, run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toEqual({
      code: 'LLM_SERVER_ERROR',
      message: expect.stringContaining('500'),
    });
    // The attempt cap holds across layers: no BullMQ retry on top of the model retries.
    expect(stub.requests).toHaveLength(2);

    const queue = t.app.get<Queue>(getQueueToken('agent-runs'));
    const job = await queue.getJob(`${run.id}.1`);
    expect(await job?.getState()).toBe('failed');
    expect(job?.failedReason).toBe('LLM_SERVER_ERROR');

    const metrics = (await request(t.app.get(MetricsServer).server).get('/metrics')).text;
    expect(metrics).toMatch(/codelab_runs_dead_lettered_total [1-9]/);
    expect(metrics).toMatch(/codelab_runs_finished_total\{status="failed"\} [1-9]/);
    const messages = (
      await t.http.get(`/v1/my/projects/${projectId}/sessions/${sid}/messages`).set(user.auth)
    ).body.items;
    expect(messages.map((m: { role: string }) => m.role)).toEqual(['user']);
  });

  it('does not retry a request the provider rejects (400)', async () => {
    stub.respondWith({ kind: 'status', status: 400 });
    const sid = await createSession(t.http, user, projectId);
    const { run } = await sendMessage(t.http, user, projectId, sid, { content: 'bad' });
    const failed = await waitForRun(t.http, user, projectId, sid, run.id);
    expect(failed.error?.code).toBe('LLM_BAD_REQUEST');
    expect(stub.requests).toHaveLength(1);
  });
});
