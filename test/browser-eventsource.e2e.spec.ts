import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { chromium, type Browser } from 'playwright-core';
import { createTestApp, registerUser, type TestApp, type TestUser } from './support/test-app';
import { createProject, createSession } from './support/sessions-helpers';
import { listenUrl } from './support/sse-client';
import { freePort } from './support/child-process';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A page any frontend could ship: stream token -> EventSource -> send a message -> events. */
function page(api: string, accessToken: string, projectId: string, sessionId: string): string {
  return `<!doctype html><html><body><script>
    window.__events = [];
    const api = ${JSON.stringify(api)};
    const auth = { authorization: 'Bearer ${accessToken}', 'content-type': 'application/json' };
    const session = api + '/v1/my/projects/${projectId}/sessions/${sessionId}';
    (async () => {
      const { stream_token } = await (await fetch(session + '/stream-token', { method: 'POST', headers: auth })).json();
      const source = new EventSource(session + '/events?stream_token=' + encodeURIComponent(stream_token));
      for (const type of ['message_received', 'run_queued', 'run_started', 'token', 'message_completed', 'run_completed']) {
        source.addEventListener(type, (e) => window.__events.push({ type, id: e.lastEventId, data: JSON.parse(e.data) }));
      }
      source.onopen = async () => {
        await fetch(session + '/messages', { method: 'POST', headers: auth, body: JSON.stringify({ content: 'hello from a browser' }) });
      };
    })();
  </script></body></html>`;
}

describe('a real browser follows a run over EventSource (headless Chromium)', () => {
  let t: TestApp;
  let user: TestUser;
  let pageServer: Server;
  let browser: Browser;
  let pageOrigin: string;

  beforeAll(async () => {
    const pagePort = await freePort();
    pageOrigin = `http://127.0.0.1:${pagePort}`;
    t = await createTestApp({
      env: { APP_ROLE: 'all', OFFLINE_LLM_TOKEN_DELAY_MS: '5', CORS_ORIGINS: pageOrigin },
    });
    await t.app.listen(0, '127.0.0.1');
    user = await registerUser(t.http);
    const projectId = await createProject(t.http, user);
    const sessionId = await createSession(t.http, user, projectId);
    const html = page(listenUrl(t.app.getHttpServer()), user.accessToken, projectId, sessionId);
    pageServer = createServer((_, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end(html),
    ).listen(pagePort, '127.0.0.1');
    await once(pageServer, 'listening');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    pageServer?.close();
    await t?.close();
  });

  it('receives token and run_completed events with a stream token', async () => {
    const tab = await browser.newPage();
    await tab.goto(pageOrigin);
    await tab.waitForFunction(
      () =>
        (globalThis as unknown as { __events: { type: string }[] }).__events.some(
          (e) => e.type === 'run_completed',
        ),
      null,
      {
        timeout: 30_000,
      },
    );
    const events = await tab.evaluate(
      () =>
        (
          globalThis as unknown as {
            __events: { type: string; id: string; data: { payload: { text?: string } } }[];
          }
        ).__events,
    );
    const types = events.map((e) => e.type);
    expect(types).toContain('token');
    expect(types.indexOf('run_completed')).toBe(types.length - 1);
    expect(events.every((e) => /^\d+-\d+$/.test(e.id))).toBe(true);
    const text = events
      .filter((e) => e.type === 'token')
      .map((e) => e.data.payload.text)
      .join('');
    expect(text).toContain('hello from a browser');
  });
});
