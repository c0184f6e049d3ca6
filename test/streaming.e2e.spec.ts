import { createHmac } from 'node:crypto';
import request from 'supertest';
import { MetricsServer } from '@codelab/platform';
import { SessionStreamHub } from '@codelab/streaming';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';
import { listenUrl, TestSseClient } from './support/sse-client';
import { waitFor } from './support/child-process';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('SSE streaming of session events (e2e)', () => {
  let t: TestApp;
  let base: string;
  let alice: TestUser;
  let bob: TestUser;
  let projectId: string;
  const open: TestSseClient[] = [];

  const eventsUrl = (sid: string, query = '') =>
    `${base}/v1/my/projects/${projectId}/sessions/${sid}/events${query}`;
  const connect = async (
    sid: string,
    options: { user?: TestUser; query?: string; headers?: Record<string, string> } = {},
  ) => {
    const headers = {
      ...(options.user === undefined ? alice.auth : options.user ? options.user.auth : {}),
      ...options.headers,
    };
    const client = await new TestSseClient(eventsUrl(sid, options.query), headers).open();
    open.push(client);
    return client;
  };

  beforeAll(async () => {
    t = await createTestApp({
      env: { APP_ROLE: 'all', OFFLINE_LLM_TOKEN_DELAY_MS: '15', SSE_HEARTBEAT_MS: '200' },
    });
    await t.app.listen(0, '127.0.0.1');
    base = listenUrl(t.app.getHttpServer());
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
    projectId = await createProject(t.http, alice);
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await t.close();
  });

  it('streams the events of a direct call, in order, with the standard SSE headers', async () => {
    const sid = await createSession(t.http, alice, projectId);
    const sse = await connect(sid);
    expect(sse.status).toBe(200);
    expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(sse.headers['cache-control']).toMatch(/no-cache/);
    expect(sse.headers['x-accel-buffering']).toBe('no');
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: 'stream this please',
    });
    await sse.waitForEvent('run_completed');

    const types = sse.types().filter((x) => x !== 'token');
    expect(types).toEqual([
      'message_received',
      'run_queued',
      'run_started',
      'message_completed',
      'run_completed',
    ]);
    const order = sse.types();
    expect(order.indexOf('token')).toBeGreaterThan(order.indexOf('run_started'));
    expect(order.lastIndexOf('token')).toBeLessThan(order.indexOf('message_completed'));
    expect(sse.retries[0]).toBeGreaterThan(0);

    const ids = sse.events.map((e) => e.id as string);
    expect(new Set(ids).size).toBe(ids.length);
    for (const e of sse.events) {
      expect(e.json).toMatchObject({
        type: e.event,
        session_id: sid,
        run_id: run.id,
        agent_id: run.agent_id,
        ts: expect.any(String),
      });
    }
    const text = sse.events
      .filter((e) => e.event === 'token')
      .map((e) => (e.json.payload as { text: string }).text)
      .join('');
    const completed = (await sse.waitForEvent('message_completed')).json.payload as {
      message: { content: string };
    };
    expect(text).toBe(completed.message.content);
    // A heartbeat comment keeps idle connections open.
    await waitFor('a heartbeat', async () => sse.comments.length > 0, 5_000);
  });

  it('replays exactly the missed events after a reconnect with Last-Event-ID, then continues live', async () => {
    const sid = await createSession(t.http, alice, projectId);
    const first = await connect(sid);
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: 'a reply long enough to interrupt '.repeat(3),
    });
    await waitFor(
      'a few tokens',
      async () => first.events.filter((e) => e.event === 'token').length >= 3,
      10_000,
    );
    first.close();
    const seen = [...first.events];
    const lastId = seen[seen.length - 1].id as string;

    const resumed = await connect(sid, { headers: { 'Last-Event-ID': lastId } });
    await resumed.waitForEvent('run_completed', 20_000);
    await waitForRun(t.http, alice, projectId, sid, run.id);

    const everything = await connect(sid, { query: '?from=start' });
    await everything.waitForEvent('run_completed');
    const all = everything.events.map((e) => e.id);
    expect([...seen, ...resumed.events].map((e) => e.id)).toEqual(all);

    // The query-parameter form works the same.
    const viaQuery = await connect(sid, { query: `?last_event_id=${encodeURIComponent(lastId)}` });
    await viaQuery.waitForEvent('run_completed');
    expect(viaQuery.events.map((e) => e.id)).toEqual(resumed.events.map((e) => e.id));
  });

  it('sends resync when the requested position expired or is unknown', async () => {
    const sid = await createSession(t.http, alice, projectId);
    const stale = await connect(sid, { headers: { 'Last-Event-ID': '1700000000000-0' } });
    const resync = await stale.waitForEvent('resync');
    expect(stale.events[0].event).toBe('resync');
    expect(resync.json).toMatchObject({ type: 'resync', session_id: sid });
    const garbage = await connect(sid, { headers: { 'Last-Event-ID': 'not-an-id' } });
    await garbage.waitForEvent('resync');
  });

  it('keeps the run going when the client disconnects', async () => {
    const sid = await createSession(t.http, alice, projectId);
    const sse = await connect(sid);
    const { run } = await sendMessage(t.http, alice, projectId, sid, {
      content: 'keep going without me',
    });
    await sse.waitForEvent('run_started');
    sse.close();
    expect((await waitForRun(t.http, alice, projectId, sid, run.id)).status).toBe('completed');
  });

  describe('stream tokens (EventSource)', () => {
    it('issues a short-lived token that opens this session’s stream without a header', async () => {
      const sid = await createSession(t.http, alice, projectId);
      const res = await t.http
        .post(`/v1/my/projects/${projectId}/sessions/${sid}/stream-token`)
        .set(alice.auth)
        .expect(200);
      const expiresIn = Date.parse(res.body.expires_at) - Date.now();
      expect(expiresIn).toBeGreaterThan(0);
      expect(expiresIn).toBeLessThanOrEqual(60_000);
      const sse = await connect(sid, {
        user: null as unknown as undefined,
        query: `?stream_token=${res.body.stream_token}`,
      });
      expect(sse.status).toBe(200);
      await sendMessage(t.http, alice, projectId, sid, { content: 'via token' });
      await sse.waitForEvent('run_completed');
    });

    it('is refused on another session, after expiry, and on every other route', async () => {
      const sid = await createSession(t.http, alice, projectId);
      const other = await createSession(t.http, alice, projectId);
      const { stream_token: token } = (
        await t.http
          .post(`/v1/my/projects/${projectId}/sessions/${sid}/stream-token`)
          .set(alice.auth)
      ).body;

      const wrongSession = await new TestSseClient(
        eventsUrl(other, `?stream_token=${token}`),
      ).open();
      open.push(wrongSession);
      expect(wrongSession.status).toBe(401);

      const now = Math.floor(Date.now() / 1000);
      const claims = {
        sub: alice.id,
        sid,
        typ: 'stream',
        iat: now - 120,
        exp: now - 60,
        iss: t.config.jwt.issuer,
        aud: `${t.config.jwt.audience}:stream`,
      };
      const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
      const expired = `${body}.${createHmac('sha256', t.config.jwt.secret).update(body).digest('base64url')}`;
      const expiredClient = await new TestSseClient(
        eventsUrl(sid, `?stream_token=${expired}`),
      ).open();
      open.push(expiredClient);
      expect(expiredClient.status).toBe(401);

      expectProblem(await t.http.get('/v1/me').set('Authorization', `Bearer ${token}`), 401);
      expectProblem(await t.http.get('/v1/my/projects').query({ stream_token: token }), 401);
      expectProblem(
        await t.http
          .get(`/v1/my/projects/${projectId}/sessions/${sid}/messages`)
          .query({ stream_token: token }),
        401,
      );
    });
  });

  describe("another user's session", () => {
    it('is a 404 before the first byte, with a bearer token or a stream token', async () => {
      const sid = await createSession(t.http, alice, projectId);
      const withHeader = await connect(sid, { user: bob });
      expect(withHeader.status).toBe(404);
      expect(withHeader.headers['content-type']).toMatch(/problem\+json/);
      expectProblem(
        await t.http
          .post(`/v1/my/projects/${projectId}/sessions/${sid}/stream-token`)
          .set(bob.auth),
        404,
      );
      // Bob's token for his own session does not open Alice's.
      const bobProject = await createProject(t.http, bob);
      const bobSession = await createSession(t.http, bob, bobProject);
      const { stream_token: token } = (
        await t.http
          .post(`/v1/my/projects/${bobProject}/sessions/${bobSession}/stream-token`)
          .set(bob.auth)
      ).body;
      const withToken = await new TestSseClient(eventsUrl(sid, `?stream_token=${token}`)).open();
      open.push(withToken);
      expect([401, 404]).toContain(withToken.status);
      // Even a token minted for Alice's session id, but by Bob, cannot pass the ownership check.
      const forged = t.app
        .get((await import('@codelab/auth')).StreamTokenService)
        .issue(bob.id, sid).token;
      const forgedClient = await new TestSseClient(
        eventsUrl(sid, `?stream_token=${forged}`),
      ).open();
      open.push(forgedClient);
      expect(forgedClient.status).toBe(404);
    });
  });

  it('leaks no listeners over 1,000 connect/disconnect cycles', async () => {
    const sid = await createSession(t.http, alice, projectId);
    const hub = t.app.get(SessionStreamHub);
    for (const c of open) c.close();
    await waitFor('earlier streams to close', async () => hub.listenerCount === 0, 10_000);
    for (let i = 0; i < 1000; i++) {
      const c = await new TestSseClient(eventsUrl(sid), alice.auth).open();
      if (i % 250 === 0)
        await waitFor('the stream to subscribe', async () => hub.listenerCount === 1, 5_000);
      c.close();
    }
    await waitFor(
      'every listener to be gone',
      async () => hub.listenerCount === 0 && hub.clientCount === 0 && hub.streamCount === 0,
      10_000,
    );
    const metrics = (await request(t.app.get(MetricsServer).server).get('/metrics')).text;
    expect(metrics).toMatch(/^codelab_sse_clients 0$/m);
  });
});
