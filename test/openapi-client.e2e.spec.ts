import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestApp, type TestApp } from './support/test-app';
import { listenUrl } from './support/sse-client';

const ROOT = join(__dirname, '..');
const execFileAsync = promisify(execFile);
const BIN = (name: string) => join(ROOT, 'node_modules', '.bin', name);

/** Runs a command; its output (compiler errors, the flow's failure) is the error's message. */
function run(command: string, args: string[], options: Parameters<typeof execFileSync>[2] = {}) {
  try {
    return String(execFileSync(command, args, { encoding: 'utf8', stdio: 'pipe', ...options }));
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}`, {
      cause: error,
    });
  }
}

/** What a frontend developer writes against the generated types (type-checked, then run). */
const FLOW = `import createClient from 'openapi-fetch';
import type { paths } from './schema.ts';

const client = createClient<paths>({ baseUrl: process.env.BASE_URL });
const fail = (what: string, error: unknown): never => {
  throw new Error(\`\${what}: \${JSON.stringify(error)}\`);
};

const email = \`client-\${process.pid}-\${Date.now()}@example.com\`;
const registered = await client.POST('/v1/auth/register', {
  body: { email, password: 'client-password-1' },
});
if (!registered.data) fail('register', registered.error);
const headers = { authorization: \`Bearer \${registered.data!.access_token}\` };

const project = await client.POST('/v1/my/projects', { body: { name: 'From the client' }, headers });
if (!project.data) fail('project', project.error);
const projectId = project.data!.id;

const session = await client.POST('/v1/my/projects/{projectId}/sessions', {
  params: { path: { projectId } },
  body: { agent: 'CodeAssistant', title: 'Generated client' },
  headers,
});
if (!session.data) fail('session', session.error);
const sessionId = session.data!.id;

const sent = await client.POST('/v1/my/projects/{projectId}/sessions/{sessionId}/messages', {
  params: { path: { projectId, sessionId } },
  body: { content: 'hello from a generated client' },
  headers,
});
if (!sent.data) fail('message', sent.error);
const runId = sent.data!.run.id;

const deadline = Date.now() + 20_000;
for (;;) {
  const run = await client.GET('/v1/my/projects/{projectId}/sessions/{sessionId}/runs/{runId}', {
    params: { path: { projectId, sessionId, runId } },
    headers,
  });
  if (run.data?.status === 'completed') break;
  if (!run.data || ['failed', 'cancelled'].includes(run.data.status) || Date.now() > deadline)
    fail('run', run.data ?? run.error);
  await new Promise((resolve) => setTimeout(resolve, 25));
}

const history = await client.GET('/v1/my/projects/{projectId}/sessions/{sessionId}/messages', {
  params: { path: { projectId, sessionId } },
  headers,
});
if (!history.data) fail('history', history.error);
// A typed problem+json answer: another session id is a 404 with a code.
const missing = await client.GET('/v1/my/projects/{projectId}/sessions/{sessionId}', {
  params: { path: { projectId, sessionId: '00000000-0000-4000-8000-000000000000' } },
  headers,
});
console.log(
  JSON.stringify({
    roles: history.data!.items.map((m) => m.role),
    missing: missing.response.status,
  }),
);
`;

describe('a client generated from the OpenAPI document (openapi-typescript + openapi-fetch)', () => {
  let t: TestApp;
  let dir: string;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'all' } });
    await t.app.listen(0, '127.0.0.1');
    // Inside the repository, so the flow resolves openapi-fetch from its node_modules.
    dir = mkdtempSync(join(__dirname, '.openapi-client-'));
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('generates, type-checks and runs register -> project -> session -> message -> history', async () => {
    const doc = (await t.http.get('/docs-json').expect(200)).body as object;
    writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc));
    // Defaults do not make request fields required (a server default is no duty of the client).
    run(BIN('openapi-typescript'), [
      join(dir, 'openapi.json'),
      '-o',
      join(dir, 'schema.ts'),
      '--default-non-nullable=false',
    ]);
    writeFileSync(join(dir, 'flow.mts'), FLOW);
    // The flow compiles against the generated types (strict, as a frontend would build it).
    run(
      BIN('tsc'),
      [
        '--noEmit',
        '--strict',
        '--skipLibCheck',
        '--target',
        'es2022',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--allowImportingTsExtensions',
        '--types',
        'node',
        join(dir, 'flow.mts'),
      ],
      { cwd: ROOT },
    );
    // ...and runs against the live API (Node strips the types). Asynchronously: the API is
    // served by this very process.
    const { stdout: out } = await execFileAsync(process.execPath, [join(dir, 'flow.mts')], {
      env: { ...process.env, BASE_URL: listenUrl(t.app.getHttpServer()), NODE_OPTIONS: '' },
      encoding: 'utf8',
      timeout: 60_000,
    }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`the flow failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`, {
        cause: error,
      });
    });
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
      roles: string[];
      missing: number;
    };
    expect(result.roles).toEqual(['user', 'assistant']);
    expect(result.missing).toBe(404);
  });
});
