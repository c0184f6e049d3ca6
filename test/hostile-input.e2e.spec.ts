import { performance } from 'node:perf_hooks';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type request from 'supertest';
import { SessionEventLog } from '@codelab/streaming';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type Http,
  type TestApp,
  type TestUser,
} from './support/test-app';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';
import { listenUrl, TestSseClient } from './support/sse-client';

/**
 * Hostile input found by a black-box probe. Every case must end as a clear 4xx
 * application/problem+json (never a 5xx, never a silent hang), and store nothing.
 */

const NIL_UUID = '00000000-0000-4000-8000-000000000000';
const cursorOf = (text: string) => Buffer.from(text).toString('base64url');
const codePoints = (text: string) => [...text].length;

const expectNo5xx = (res: request.Response) => expect(res.status).toBeLessThan(500);
/** Sends the bytes as they are (superagent would JSON-serialize a Buffer sent as JSON). */
const asIs = (body: unknown) => body as string;

/** Runs `work` while a 1 ms timer watches the event loop; the longest stall beyond 1 ms. */
async function maxLoopStallMs<T>(work: () => PromiseLike<T>): Promise<[T, number]> {
  let last = performance.now();
  let worst = 0;
  const tick = () => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  };
  const timer = setInterval(tick, 1);
  try {
    const result = await work();
    tick();
    return [result, worst];
  } finally {
    clearInterval(timer);
  }
}

async function projectNames(http: Http, user: TestUser): Promise<string[]> {
  const res = await http.get('/v1/my/projects').query({ limit: 100 }).set(user.auth).expect(200);
  return (res.body.items as { name: string }[]).map((p) => p.name);
}

describe('hostile input at the HTTP edge (e2e)', () => {
  let t: TestApp;
  let user: TestUser;
  let projectId: string;
  let sessionId: string;
  let agentIds: string[];

  beforeAll(async () => {
    t = await createTestApp();
    user = await registerUser(t.http);
    projectId = await createProject(t.http, user, 'Hostile');
    sessionId = await createSession(t.http, user, projectId);
    agentIds = (
      await t.http.get(`/v1/my/projects/${projectId}/agents`).set(user.auth).expect(200)
    ).body.items.map((a: { id: string }) => a.id);
  });
  afterAll(async () => {
    await t.close();
  });

  describe('pagination cursors', () => {
    const lists = () => ({
      projects: '/v1/my/projects',
      agents: `/v1/my/projects/${projectId}/agents`,
      sessions: `/v1/my/projects/${projectId}/sessions`,
      runs: `/v1/my/projects/${projectId}/sessions/${sessionId}/runs`,
      memory: `/v1/my/projects/${projectId}/agents/${agentIds[0]}/memory`,
    });
    const hostile: [string, string][] = [
      // Parse in JavaScript; PostgreSQL refuses (or misreads) them.
      ['the largest JS date', cursorOf(`+275760-09-13T00:00:00.000Z|${NIL_UUID}`)],
      ['the smallest JS date', cursorOf(`-271821-04-20T00:00:00.000Z|${NIL_UUID}`)],
      ['year 0', cursorOf(`0000-01-01T00:00:00.000Z|${NIL_UUID}`)],
      ['4713 BC', cursorOf(`-004713-11-24T00:00:00.000Z|${NIL_UUID}`)],
      ['year 10000', cursorOf(`+010000-01-01T00:00:00.000Z|${NIL_UUID}`)],
      ['before 1970', cursorOf(`1969-12-31T23:59:59.999Z|${NIL_UUID}`)],
      // Not what the encoder writes.
      ['February 30th', cursorOf(`2024-02-30T00:00:00.000Z|${NIL_UUID}`)],
      ['a date without a time', cursorOf(`2024-01-01|${NIL_UUID}`)],
      ['a leap second', cursorOf(`2016-12-31T23:59:60.000Z|${NIL_UUID}`)],
      ['garbage date', cursorOf(`garbage|${NIL_UUID}`)],
      ['NUL in the date', cursorOf(`2024-01-01T00:00:00.000Z\u0000|${NIL_UUID}`)],
      ['no id', cursorOf('2024-01-01T00:00:00.000Z')],
      ['a bad id', cursorOf('2024-01-01T00:00:00.000Z|not-a-uuid')],
      ['three parts', cursorOf(`2024-01-01T00:00:00.000Z|${NIL_UUID}|x`)],
      ['not base64', '%%%'],
      ['random bytes', 'A'.repeat(512)],
    ];

    for (const list of ['projects', 'agents', 'sessions', 'runs'] as const) {
      it(`GET ${list}: refuses extreme, impossible or garbage cursors with 400 INVALID_CURSOR`, async () => {
        const url = lists()[list];
        for (const [label, cursor] of hostile) {
          const res = await t.http.get(url).query({ cursor }).set(user.auth);
          expect({ label, status: res.status }).toEqual({ label, status: 400 });
          expectProblem(res, 400, 'INVALID_CURSOR');
        }
        // The edges of the range are valid positions (past every row / before every row).
        for (const iso of ['1970-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z']) {
          await t.http
            .get(url)
            .query({ cursor: cursorOf(`${iso}|${NIL_UUID}`) })
            .set(user.auth)
            .expect(200);
        }
      });
    }

    // The memory service lets the caller's mistakes through (never a 503 to retry forever).
    it('GET agent memory: refuses bad cursors with 400 INVALID_CURSOR', async () => {
      const url = lists().memory;
      for (const [label, cursor] of hostile) {
        const res = await t.http.get(url).query({ cursor }).set(user.auth);
        expect({ label, status: res.status }).toEqual({ label, status: 400 });
        expectProblem(res, 400, 'INVALID_CURSOR');
      }
    });

    it('GET agent memory: a bad cursor is never a 500', async () => {
      for (const [label, cursor] of hostile) {
        const res = await t.http.get(lists().memory).query({ cursor }).set(user.auth);
        expect({ label, status: res.status }).not.toEqual({ label, status: 500 });
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    });

    it('real next_cursor values still page through every keyset list', async () => {
      const pid = await createProject(t.http, user, 'Paged');
      const sid = await createSession(t.http, user, pid);
      await createSession(t.http, user, pid);
      await sendMessage(t.http, user, pid, sid, { content: 'first' });
      await sendMessage(t.http, user, pid, sid, { content: 'second' });
      // Not agents: that list is ascending and its created_at comes from clock_timestamp() with
      // microseconds, which a millisecond cursor cannot name; the boundary row repeats on the next
      // page (a keyset precision defect reported separately, not a hostile-input one).
      for (const url of [
        '/v1/my/projects',
        `/v1/my/projects/${pid}/sessions`,
        `/v1/my/projects/${pid}/sessions/${sid}/runs`,
      ]) {
        const first = await t.http.get(url).query({ limit: 1 }).set(user.auth).expect(200);
        expect(first.body.next_cursor).toEqual(expect.any(String));
        const second = await t.http
          .get(url)
          .query({ limit: 1, cursor: first.body.next_cursor })
          .set(user.auth)
          .expect(200);
        expect({ url, n: second.body.items.length }).toEqual({ url, n: 1 });
        expect({ url, id: second.body.items[0].id }).not.toEqual({
          url,
          id: first.body.items[0].id,
        });
      }
    });
  });

  describe('deeply nested JSON', () => {
    const deepArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    const deepObjects = (depth: number) => '{"a":'.repeat(depth) + 'null' + '}'.repeat(depth);
    const post = (url: string, body: string, auth = true) => {
      const req = t.http.post(url).set('Content-Type', 'application/json');
      return (auth ? req.set(user.auth) : req).send(body);
    };

    it('refuses 10,000 levels (arrays or objects) with 400 JSON_TOO_DEEP and stores nothing', async () => {
      for (const body of [
        `{"name":"deep-a","description":${deepArrays(10_000)}}`,
        `{"name":"deep-o","settings":${deepObjects(10_000)}}`,
        deepArrays(10_000),
      ]) {
        expectProblem(await post('/v1/my/projects', body), 400, 'JSON_TOO_DEEP');
      }
      expect(await projectNames(t.http, user)).not.toEqual(
        expect.arrayContaining([expect.stringMatching(/^deep-/)]),
      );
    });

    it('refuses it on anonymous routes too (login, register)', async () => {
      const deep = `{"email":"a@example.com","password":${deepArrays(10_000)}}`;
      expectProblem(await post('/v1/auth/login', deep, false), 400, 'JSON_TOO_DEEP');
      expectProblem(await post('/v1/auth/register', deep, false), 400, 'JSON_TOO_DEEP');
    });

    it('caps at 64 levels: 64 are parsed (then validated), 65 are refused', async () => {
      // The body object is level 1.
      const at64 = `{"name":"depth-64","description":${deepArrays(63)}}`;
      const at65 = `{"name":"depth-65","description":${deepArrays(64)}}`;
      expectProblem(await post('/v1/my/projects', at64), 400, 'VALIDATION_FAILED');
      const refused = expectProblem(await post('/v1/my/projects', at65), 400, 'JSON_TOO_DEEP');
      expect(refused.max_depth).toBe(64);
    });

    it('does not count brackets inside strings, escaped quotes included', async () => {
      const description = `"[{\\"${'['.repeat(1000)}{`;
      const res = await t.http
        .post('/v1/my/projects')
        .set(user.auth)
        .send({ name: 'brackets in strings', description })
        .expect(201);
      expect(res.body.description).toBe(description);
    });

    it('measures the depth of the decompressed body', async () => {
      const res = await t.http
        .post('/v1/my/projects')
        .set(user.auth)
        .set('Content-Type', 'application/json')
        .set('Content-Encoding', 'gzip')
        .serialize(asIs)
        .send(gzipSync(`{"name":"deep-gz","description":${deepArrays(100_000)}}`));
      expectProblem(res, 400, 'JSON_TOO_DEEP');
    });

    it('scans bodies in other UTF charsets the parser admits (UTF-16) just the same', async () => {
      const utf16 = (text: string) =>
        t.http
          .post('/v1/my/projects')
          .set(user.auth)
          .set('Content-Type', 'application/json; charset=utf-16le')
          .serialize(asIs)
          .send(Buffer.from(text, 'utf16le'));
      expectProblem(
        await utf16(`{"name":"deep-16","description":${deepArrays(1000)}}`),
        400,
        'JSON_TOO_DEEP',
      );
      expect((await utf16('{"name":"utf-16 世界"}')).status).toBe(201);
      const utf7 = await t.http
        .post('/v1/my/projects')
        .set(user.auth)
        .set('Content-Type', 'application/json; charset=utf-7')
        .send('{"name":"utf-7"}');
      expectProblem(utf7, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('refuses a ~1 MiB deeply nested body without blocking the event loop', async () => {
      const limit = t.config.http.bodyLimitBytes;
      const half = Math.floor((limit - 64) / 2);
      const bodies = {
        arrays: deepArrays(half),
        objects: `{"name":"x","settings":${deepObjects(Math.floor((limit - 64) / 6))}}`,
      };
      // The probe sees a stall: a 60 ms busy loop reads as one.
      const [, calibration] = await maxLoopStallMs(async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const until = performance.now() + 60;
        while (performance.now() < until);
        await new Promise((resolve) => setTimeout(resolve, 5));
      });
      expect(calibration).toBeGreaterThanOrEqual(50);

      const stalls: Record<string, number> = {};
      for (const [kind, body] of Object.entries(bodies)) {
        expect(Buffer.byteLength(body)).toBeLessThan(limit);
        expect(Buffer.byteLength(body)).toBeGreaterThan(limit * 0.95);
        const [res, stall] = await maxLoopStallMs(() => post('/v1/my/projects', body));
        expectProblem(res, 400, 'JSON_TOO_DEEP');
        stalls[kind] = Math.round(stall * 10) / 10;
      }
      // The scan stops at level 65: the parser never sees the body. Before the cap, 400,000
      // levels blocked the loop ~700 ms. The bound is generous, for loaded CI machines; the
      // target is < 50 ms.
      process.stdout.write(
        `\nlongest event-loop stall refusing ~1 MiB deep bodies (ms): ${JSON.stringify(stalls)}\n`,
      );
      for (const ms of Object.values(stalls)) expect(ms).toBeLessThan(200);
    });
  });

  describe('Content-Encoding that does not match the body', () => {
    const json = JSON.stringify({ name: 'encoded', description: 'x'.repeat(2000) });
    const gz = gzipSync(json);
    const cases: [string, string, Buffer][] = [
      ['gzip, body not compressed', 'gzip', Buffer.from(json)],
      ['deflate, body not compressed', 'deflate', Buffer.from(json)],
      ['br, body not compressed', 'br', Buffer.from(json)],
      ['gzip, truncated', 'gzip', gz.subarray(0, gz.length - 20)],
      ['gzip, header only', 'gzip', gz.subarray(0, 10)],
      ['deflate, truncated', 'deflate', deflateSync(json).subarray(0, 40)],
      ['br, truncated', 'br', brotliCompressSync(json).subarray(0, 20)],
      ['gzip, but deflate data', 'gzip', deflateSync(json)],
    ];
    const send = (url: string, encoding: string, body: Buffer, auth?: TestUser) => {
      const req = t.http
        .post(url)
        .set('Content-Type', 'application/json')
        .set('Content-Encoding', encoding)
        .serialize(asIs);
      return (auth ? req.set(auth.auth) : req).send(body);
    };

    it('answers 400 MALFORMED_BODY_ENCODING on an authenticated route and stores nothing', async () => {
      for (const [label, encoding, body] of cases) {
        const res = await send('/v1/my/projects', encoding, body, user);
        expect({ label, status: res.status }).toEqual({ label, status: 400 });
        const problem = expectProblem(res, 400, 'MALFORMED_BODY_ENCODING');
        expect(problem.detail).toContain(encoding);
      }
      expect(await projectNames(t.http, user)).not.toContain('encoded');
    });

    it('answers 400 on anonymous routes (login, register) and creates no account', async () => {
      const email = `enc_${Date.now()}@example.com`;
      const body = JSON.stringify({ email, password: 'correct horse battery staple' });
      for (const [label, encoding, broken] of [
        ['gzip, not compressed', 'gzip', Buffer.from(body)],
        ['deflate, not compressed', 'deflate', Buffer.from(body)],
        ['br, not compressed', 'br', Buffer.from(body)],
        ['gzip, truncated', 'gzip', gzipSync(body).subarray(0, 25)],
      ] as const) {
        for (const url of ['/v1/auth/login', '/v1/auth/register']) {
          const res = await send(url, encoding, broken);
          expect({ label, url, status: res.status }).toEqual({ label, url, status: 400 });
          expectProblem(res, 400, 'MALFORMED_BODY_ENCODING');
        }
      }
      // No account was created: the address is still free.
      await t.http.post('/v1/auth/register').send(JSON.parse(body)).expect(201);
    });

    it('still accepts well-formed gzip, deflate and br bodies', async () => {
      for (const [encoding, compress] of [
        ['gzip', gzipSync],
        ['deflate', deflateSync],
        ['br', brotliCompressSync],
      ] as const) {
        const res = await send(
          '/v1/my/projects',
          encoding,
          compress(JSON.stringify({ name: `compressed ${encoding}` })),
          user,
        );
        expect(res.status).toBe(201);
      }
    });

    it('answers 415 for an encoding it does not support', async () => {
      for (const encoding of ['compress', 'x-unknown', 'gzip, gzip']) {
        const res = await send('/v1/my/projects', encoding, Buffer.from(json), user);
        expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
    });

    it('answers 413 for a small gzip body that inflates past the limit', async () => {
      const bomb = gzipSync(`{"name":"bomb","description":"${' '.repeat(8 * 1024 * 1024)}"}`);
      expect(bomb.length).toBeLessThan(64 * 1024);
      expectProblem(await send('/v1/my/projects', 'gzip', bomb, user), 413, 'PAYLOAD_TOO_LARGE');
    });
  });

  describe('message content limit: 32,000 characters (Unicode code points)', () => {
    const url = (sid: string) => `/v1/my/projects/${projectId}/sessions/${sid}/messages`;
    const post = async (content: string) => {
      const sid = await createSession(t.http, user, projectId);
      return { sid, res: await t.http.post(url(sid)).set(user.auth).send({ content }) };
    };
    const stored = async (sid: string) =>
      (await t.http.get(url(sid)).set(user.auth).expect(200)).body.items as { content: string }[];

    it('accepts exactly 32,000 emoji (128,000 UTF-8 bytes, 64,000 UTF-16 units)', async () => {
      const content = '😀'.repeat(32_000);
      expect(Buffer.byteLength(content)).toBe(128_000);
      const { sid, res } = await post(content);
      expect(res.status).toBe(202);
      const [message] = await stored(sid);
      expect(codePoints(message.content)).toBe(32_000);
      expect(message.content).toBe(content);
    });

    it('refuses 32,001 emoji with 400 VALIDATION_FAILED on content, storing nothing', async () => {
      const { sid, res } = await post('😀'.repeat(32_001));
      const problem = expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(problem.errors).toEqual([
        { field: 'content', messages: [expect.stringMatching(/32000 characters/)] },
      ]);
      expect(await stored(sid)).toEqual([]);
    });

    it('counts every code point the same: ASCII, emoji, variation selectors', async () => {
      expect((await post(`${'a'.repeat(31_999)}😀`)).res.status).toBe(202);
      expectProblem((await post(`${'a'.repeat(32_000)}😀`)).res, 400, 'VALIDATION_FAILED');
      expect((await post('a'.repeat(32_000))).res.status).toBe(202);
      expectProblem((await post('a'.repeat(32_001))).res, 400, 'VALIDATION_FAILED');
      // U+2764 U+FE0F is two code points (class-validator's MaxLength counted it as one).
      expect((await post('❤️'.repeat(16_000))).res.status).toBe(202);
      expectProblem((await post('❤️'.repeat(16_001))).res, 400, 'VALIDATION_FAILED');
    });

    it('documents the limit in characters (code points) in the OpenAPI document', async () => {
      const doc = (await t.http.get('/docs-json').expect(200)).body;
      const content = doc.components.schemas.SendMessageDto.properties.content;
      expect(content.maxLength).toBe(32_000);
      expect(content.description).toMatch(/code points/);
    });
  });

  describe('NUL characters in JSON bodies', () => {
    const NUL = 'a\u0000b';
    const expectRefused = async (res: request.Response, field: string) => {
      const problem = expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(problem.errors).toEqual([{ field: `body.${field}`, messages: [expect.any(String)] }]);
    };

    it('refuses NUL in a project name or description, storing nothing', async () => {
      await expectRefused(
        await t.http
          .post('/v1/my/projects')
          .set(user.auth)
          .send({ name: `nul ${NUL}` }),
        'name',
      );
      await expectRefused(
        await t.http
          .post('/v1/my/projects')
          .set(user.auth)
          .send({ name: 'nul description', description: NUL }),
        'description',
      );
      const names = await projectNames(t.http, user);
      expect(names.filter((n) => n.startsWith('nul'))).toEqual([]);
    });

    it('refuses NUL in a session title and in message content', async () => {
      await expectRefused(
        await t.http
          .post(`/v1/my/projects/${projectId}/sessions`)
          .set(user.auth)
          .send({ title: NUL }),
        'title',
      );
      const sid = await createSession(t.http, user, projectId);
      await expectRefused(
        await t.http
          .post(`/v1/my/projects/${projectId}/sessions/${sid}/messages`)
          .set(user.auth)
          .send({ content: NUL }),
        'content',
      );
      const messages = await t.http
        .get(`/v1/my/projects/${projectId}/sessions/${sid}/messages`)
        .set(user.auth)
        .expect(200);
      expect(messages.body.items).toEqual([]);
    });

    it('refuses NUL in an agent name or system prompt', async () => {
      const url = `/v1/my/projects/${projectId}/agents`;
      await expectRefused(await t.http.post(url).set(user.auth).send({ name: NUL }), 'name');
      await expectRefused(
        await t.http.post(url).set(user.auth).send({ name: 'NulPrompt', system_prompt: NUL }),
        'system_prompt',
      );
      const agents = (await t.http.get(url).set(user.auth).expect(200)).body.items as {
        name: string;
      }[];
      expect(agents.map((a) => a.name)).not.toContain('NulPrompt');
    });

    it('refuses NUL in login and register credentials; a refused register creates no account', async () => {
      const email = `nul_${Date.now()}@example.com`;
      const password = 'correct horse battery staple';
      await expectRefused(
        await t.http.post('/v1/auth/login').send({ email: `${NUL}@example.com`, password }),
        'email',
      );
      await expectRefused(
        await t.http.post('/v1/auth/login').send({ email: user.email, password: NUL }),
        'password',
      );
      await expectRefused(
        await t.http.post('/v1/auth/register').send({ email: `x${NUL}@example.com`, password }),
        'email',
      );
      await expectRefused(
        await t.http.post('/v1/auth/register').send({ email, password: `${password}\u0000` }),
        'password',
      );
      // Nothing was created under that address: it registers now, and only once.
      expectProblem(await t.http.post('/v1/auth/login').send({ email, password }), 401);
      await t.http.post('/v1/auth/register').send({ email, password }).expect(201);
    });
  });
});

describe('Last-Event-ID beyond what Redis can hold (e2e)', () => {
  let t: TestApp;
  let base: string;
  let user: TestUser;
  let projectId: string;
  let sessionId: string;
  const open: TestSseClient[] = [];

  const connect = async (query = '', headers: Record<string, string> = {}) => {
    const url = `${base}/v1/my/projects/${projectId}/sessions/${sessionId}/events${query}`;
    const client = await new TestSseClient(url, { ...user.auth, ...headers }).open();
    open.push(client);
    return client;
  };

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'all', OFFLINE_LLM_TOKEN_DELAY_MS: '1' } });
    await t.app.listen(0, '127.0.0.1');
    base = listenUrl(t.app.getHttpServer());
    user = await registerUser(t.http);
    projectId = await createProject(t.http, user);
    sessionId = await createSession(t.http, user, projectId);
    // The stream must have entries: an empty one already answered resync.
    const { run } = await sendMessage(t.http, user, projectId, sessionId, { content: 'hello' });
    await waitForRun(t.http, user, projectId, sessionId, run.id);
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await t.close();
  });

  const expectResync = async (client: TestSseClient) => {
    expect(client.status).toBe(200);
    const resync = await client.waitForEvent('resync');
    expect(client.events[0].event).toBe('resync');
    expect(resync.json).toMatchObject({ type: 'resync', session_id: sessionId });
    // It points at the newest entry: reconnecting from there resumes cleanly.
    expect(resync.id).toBe(await t.app.get(SessionEventLog).lastId(sessionId));
    expect(resync.id).not.toBe('0-0');
    expect(client.ended).toBe(false);
  };

  const beyond = [
    '99999999999999999999-0',
    '18446744073709551616-0',
    '18446744073709551615-18446744073709551615',
    '0-99999999999999999999',
  ];

  it('answers resync, and keeps the stream open, for 20-digit ids in the header', async () => {
    for (const id of beyond) await expectResync(await connect('', { 'Last-Event-ID': id }));
  });

  it('answers resync for the same ids in ?last_event_id=', async () => {
    for (const id of beyond)
      await expectResync(await connect(`?last_event_id=${encodeURIComponent(id)}`));
  });

  it('answers resync for an in-range id newer than anything the stream issued', async () => {
    const [ms] = (await t.app.get(SessionEventLog).lastId(sessionId)).split('-');
    await expectResync(await connect('', { 'Last-Event-ID': `${BigInt(ms) + 1n}-0` }));
  });

  it('after the resync, reconnecting from its id resumes and delivers live events', async () => {
    const resynced = await connect('', { 'Last-Event-ID': beyond[2] });
    const { id } = await resynced.waitForEvent('resync');
    resynced.close();
    const resumed = await connect('', { 'Last-Event-ID': id as string });
    await sendMessage(t.http, user, projectId, sessionId, { content: 'again' });
    await resumed.waitForEvent('run_completed');
    expect(resumed.types()).not.toContain('resync');
    expect(resumed.events[0].event).toBe('message_received');
    expect(resumed.ended).toBe(false);
  });

  it('never answers a 5xx to a hostile Last-Event-ID', async () => {
    for (const id of ['-1-0', '1-2-3', `${'9'.repeat(64)}`, '0-0', '1-']) {
      const client = await connect('', { 'Last-Event-ID': id });
      expect(client.status).toBe(200);
      await client.waitForEvent('resync');
    }
    const tooLong = await t.http
      .get(`/v1/my/projects/${projectId}/sessions/${sessionId}/events`)
      .query({ last_event_id: '9'.repeat(65) })
      .set(user.auth);
    expectNo5xx(tooLong);
    expectProblem(tooLong, 400, 'VALIDATION_FAILED');
  });
});
