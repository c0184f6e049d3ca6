import { createHmac, randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Client } from 'pg';
import request from 'supertest';
import { MetricsServer } from '@codelab/platform';
import { startMetricsServer } from '../apps/api/src/bootstrap';
import { createTestApp, expectProblem, registerUser, type TestApp } from './support/test-app';
import { createProject, createSession } from './support/sessions-helpers';
import { listenUrl, TestSseClient } from './support/sse-client';
import { freePort, waitFor } from './support/child-process';

/** A raw TCP connection to the server: what it received, and when (ms after connecting) it closed. */
interface RawConnection {
  socket: Socket;
  received: () => string;
  closed: Promise<number>;
}

function rawConnection(port: number): RawConnection {
  const socket = connect(port, '127.0.0.1');
  const started = performance.now();
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => resolve(performance.now() - started)),
  );
  return { socket, received: () => data, closed };
}

/** Writes `text` one byte every `everyMs` until the socket closes (a slowloris client). */
function dribble(socket: Socket, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

/** Status and parsed body of the (single) raw HTTP response in `raw`. */
function parseRaw(raw: string): { status: number; headers: string; body: Record<string, unknown> } {
  const [head, body] = raw.split('\r\n\r\n');
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]),
    headers: head.toLowerCase(),
    body: body ? (JSON.parse(body) as Record<string, unknown>) : {},
  };
}

function expectRawProblem(raw: string, status: number, code: string): void {
  const res = parseRaw(raw);
  expect(res.status).toBe(status);
  expect(res.headers).toContain('content-type: application/problem+json');
  expect(res.headers).toContain('connection: close');
  expect(res.body).toEqual(
    expect.objectContaining({ status, code, request_id: expect.any(String) }),
  );
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function signJwt(payload: Record<string, unknown>, secret: string): string {
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 1_500;
// Node checks the timeouts on a timer (a quarter of the shorter one here); plus scheduling slack.
const CUT_SLACK_MS = 1_500;

describe('HTTP hardening (e2e)', () => {
  let t: TestApp;
  let port: number;
  let metricsPort: number;
  let metricsListening: number | null;

  beforeAll(async () => {
    metricsPort = await freePort();
    t = await createTestApp({
      env: {
        HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        SSE_HEARTBEAT_MS: '200',
        METRICS_PORT: String(metricsPort),
      },
    });
    // Server-level limits need the real server on a real port.
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as { port: number }).port;
    // What the entry point does after the API listens.
    metricsListening = await startMetricsServer(t.app, t.config);
  });
  afterAll(async () => {
    await t.close();
  });

  const metricsText = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();

  describe('server timeouts and limits', () => {
    it('answers 408 and cuts a slowloris client that dribbles its headers and never ends them', async () => {
      const c = rawConnection(port);
      dribble(c.socket, `GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(500)}\r\n`, 50);
      const closedAfter = await c.closed;
      expect(closedAfter).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
      expect(closedAfter).toBeLessThan(HEADERS_TIMEOUT_MS + CUT_SLACK_MS);
      expectRawProblem(c.received(), 408, 'REQUEST_TIMEOUT');
    });

    it('cuts a connection that never sends a byte', async () => {
      const c = rawConnection(port);
      const closedAfter = await c.closed;
      expect(closedAfter).toBeLessThan(HEADERS_TIMEOUT_MS + CUT_SLACK_MS);
    });

    it('answers 408 to a body sent too slowly (request timeout)', async () => {
      const c = rawConnection(port);
      const body = JSON.stringify({ email: 'slow@example.com', password: 'x'.repeat(200) });
      c.socket.write(
        'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
      );
      dribble(c.socket, body, 50);
      const closedAfter = await c.closed;
      expect(closedAfter).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
      expect(closedAfter).toBeLessThan(REQUEST_TIMEOUT_MS + CUT_SLACK_MS);
      expectRawProblem(c.received(), 408, 'REQUEST_TIMEOUT');
    });

    it('keeps an SSE stream open and flowing well past both timeouts', async () => {
      const user = await registerUser(t.http);
      const projectId = await createProject(t.http, user);
      const sessionId = await createSession(t.http, user, projectId);
      const sse = await new TestSseClient(
        `${listenUrl(t.app.getHttpServer())}/v1/my/projects/${projectId}/sessions/${sessionId}/events`,
        user.auth,
      ).open();
      try {
        expect(sse.status).toBe(200);
        const past = 2 * REQUEST_TIMEOUT_MS + CUT_SLACK_MS;
        await new Promise((r) => setTimeout(r, past));
        const heartbeatsThen = sse.comments.length;
        expect(sse.ended).toBe(false);
        // Still flowing: more heartbeats arrive after the timeouts have long passed.
        await waitFor(
          'more heartbeats',
          async () => sse.comments.length >= heartbeatsThen + 3,
          5_000,
        );
        expect(sse.ended).toBe(false);
      } finally {
        sse.close();
      }
    });

    it('keeps an idle keep-alive connection past the headers timeout, and serves its next request', async () => {
      const c = rawConnection(port);
      c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor('the first response', async () => c.received().includes('{"status":"ok"}'));
      await new Promise((r) => setTimeout(r, HEADERS_TIMEOUT_MS + CUT_SLACK_MS));
      expect(c.socket.destroyed).toBe(false);
      c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(
        'the second response',
        async () => c.received().split('HTTP/1.1 200 OK').length === 3,
      );
      c.socket.destroy();
    });

    it('answers 431 problem+json to headers over HTTP_MAX_HEADER_BYTES (16 KiB), and serves 8 KiB', async () => {
      expect(t.config.http.maxHeaderBytes).toBe(16 * 1024);
      const big = rawConnection(port);
      big.socket.write(
        `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\n\r\n`,
      );
      await big.closed;
      expectRawProblem(big.received(), 431, 'HEADERS_TOO_LARGE');

      await t.http
        .get('/health')
        .set('X-Fine', 'f'.repeat(8 * 1024))
        .expect(200);
    });

    it('counts the connections it cut, by reason', async () => {
      const text = await metricsText();
      expect(text).toMatch(/^codelab_http_client_errors_total\{reason="timeout"\} [1-9]/m);
      expect(text).toMatch(
        /^codelab_http_client_errors_total\{reason="headers_too_large"\} [1-9]/m,
      );
    });
  });

  describe('metrics on their own port', () => {
    it('the public API port answers 404 problem+json for /metrics', async () => {
      expectProblem(await t.http.get('/metrics'), 404);
    });

    it('METRICS_PORT serves Prometheus text, and nothing else', async () => {
      expect(metricsListening).toBe(metricsPort);
      await t.http.get('/health').expect(200);
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(text).toContain('process_cpu_user_seconds_total');
      expect(text).toMatch(/codelab_http_request_duration_seconds_bucket\{.*route="\/health"/);

      const other = await fetch(`http://127.0.0.1:${metricsPort}/v1/my/projects`);
      expect(other.status).toBe(404);
      expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const post = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
    });

    it('applies the same server limits there', async () => {
      const c = rawConnection(metricsPort);
      dribble(c.socket, 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaa', 100);
      expect(await c.closed).toBeLessThan(HEADERS_TIMEOUT_MS + CUT_SLACK_MS);
      expectRawProblem(c.received(), 408, 'REQUEST_TIMEOUT');
    });

    it('is off with METRICS_PORT=0', async () => {
      expect(await startMetricsServer(t.app, { ...t.config, metricsPort: 0 })).toBeNull();
      // The in-process server object still answers (what the other e2e suites read).
      const res = await request(t.app.get(MetricsServer).server).get('/metrics').expect(200);
      expect(res.text).toContain('codelab_http_request_duration_seconds');
    });
  });

  describe('tokens of deleted accounts, and token age', () => {
    const deleteUser = async (id: string) => {
      const db = new Client({ connectionString: t.config.databaseUrl });
      await db.connect();
      try {
        const { rowCount } = await db.query('delete from users where id = $1', [id]);
        expect(rowCount).toBe(1);
      } finally {
        await db.end();
      }
    };

    it('refuses a deleted account token with 401 on every authenticated route', async () => {
      const user = await registerUser(t.http);
      const projectId = await createProject(t.http, user);
      const sessionId = await createSession(t.http, user, projectId);
      const streamToken = (
        await t.http
          .post(`/v1/my/projects/${projectId}/sessions/${sessionId}/stream-token`)
          .set(user.auth)
          .expect(200)
      ).body.stream_token as string;
      await t.http.get('/v1/me').set(user.auth).expect(200);
      await t.http.get(`/v1/my/projects/${projectId}`).set(user.auth).expect(200);

      await deleteUser(user.id);

      for (const res of [
        await t.http.get('/v1/me').set(user.auth),
        await t.http.get('/v1/my/projects').set(user.auth),
        await t.http.get(`/v1/my/projects/${projectId}`).set(user.auth),
        // Project-scoped routes check the account only through the owner-scoped project query:
        // a deleted account is still 401 there, also with an unknown or a malformed id.
        await t.http.get(`/v1/my/projects/${projectId}/agents`).set(user.auth),
        await t.http.get(`/v1/my/projects/${randomUUID()}/sessions`).set(user.auth),
        await t.http.get('/v1/my/projects/not-a-uuid/agents').set(user.auth),
        await t.http.post('/v1/my/projects').set(user.auth).send({ name: 'After deletion' }),
        await t.http
          .get(`/v1/my/projects/${projectId}/sessions/${sessionId}/events`)
          .set(user.auth),
        await t.http.get(
          `/v1/my/projects/${projectId}/sessions/${sessionId}/events?stream_token=${streamToken}`,
        ),
      ]) {
        expectProblem(res, 401, 'UNAUTHENTICATED');
      }
      // The refresh token died with the account (ON DELETE CASCADE).
      expectProblem(
        await t.http.post('/v1/auth/refresh').send({ refresh_token: user.refreshToken }),
        401,
        'INVALID_REFRESH_TOKEN',
      );
    });

    it('refuses a well-signed token for an account that never existed', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = signJwt(
        {
          sub: randomUUID(),
          typ: 'access',
          iat: now,
          exp: now + 60,
          iss: t.config.jwt.issuer,
          aud: t.config.jwt.audience,
        },
        t.config.jwt.secret,
      );
      expectProblem(
        await t.http.get('/v1/my/projects').set('Authorization', `Bearer ${token}`),
        401,
        'UNAUTHENTICATED',
      );
    });

    it('refuses tokens older or longer-lived than the access TTL, whatever their exp says', async () => {
      const user = await registerUser(t.http);
      const { accessTtlSeconds: ttl, clockToleranceSeconds: tolerance } = t.config.jwt;
      const now = Math.floor(Date.now() / 1000);
      const token = (iat: number, exp: number) =>
        signJwt(
          {
            sub: user.id,
            typ: 'access',
            iat,
            exp,
            iss: t.config.jwt.issuer,
            aud: t.config.jwt.audience,
          },
          t.config.jwt.secret,
        );
      const status = async (jwt: string) =>
        (await t.http.get('/v1/me').set('Authorization', `Bearer ${jwt}`)).status;

      // The longest lifetime allowed, and one second more.
      expect(await status(token(now, now + ttl + tolerance))).toBe(200);
      expect(await status(token(now, now + ttl + tolerance + 1))).toBe(401);
      // A year-long token.
      expect(await status(token(now, now + 365 * 86_400))).toBe(401);
      // Issued longer ago than the TTL, yet not expired.
      expect(await status(token(now - ttl - 60, now + 60))).toBe(401);
      // Issued in the future (beyond the clock tolerance).
      expect(await status(token(now + 3_600, now + 3_600 + ttl))).toBe(401);
      // The tokens the API issues pass.
      expect(await status(user.accessToken)).toBe(200);
    });
  });
});
