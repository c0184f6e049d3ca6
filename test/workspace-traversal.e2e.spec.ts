import { lstatSync, mkdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseQuery } from 'node:querystring';
import type { Test } from 'supertest';
import { createTestApp, registerUser, type TestApp, type TestUser } from './support/test-app';
import {
  carriesCanary,
  createLayout,
  type EncodedPayload,
  insideState,
  isInside,
  type Layout,
  outsideChanges,
  outsideState,
  repairWorkspace,
  runPayloadCases,
  report,
  sha,
  type TraversalPayload,
  traversalPayloads,
  workspaceEntries,
} from './support/traversal';

/**
 * Traversal payloads through REST, for every route that takes a path: read (GET files), write
 * (PUT files), list (GET entries), delete (DELETE entries) and move (POST moves, as `from` and as
 * `to`). The layout, the workspace and the payloads are those of test/support/traversal.ts (the
 * outside: a sibling directory and a prefix-named sibling in the workspaces dir, and a separate
 * temp dir, all holding marked canaries). A case "escapes" if any outside tree changes (names,
 * sizes, mtimes, contents), if a response carries the marker, or if a 2xx cannot be shown to have
 * stayed inside; a 5xx is a failure of its own. Runs as root in CI: nothing that could write or
 * delete targets a path we do not own.
 */

interface Payload extends TraversalPayload {
  /** Sent as is in the query string (the server decodes it); moves send the decoded form. */
  rawQuery?: string;
}

/**
 * Every shared payload as a path the client encodes (`.query()` / JSON); the encoded forms also
 * as raw query strings the server decodes.
 */
function payloads(l: Layout): Payload[] {
  const { encoded, ...rest } = traversalPayloads(l);
  /** A query string the way an attacker types it; decoded the way the server decodes it. */
  const raw = (e: EncodedPayload): Payload => ({
    label: `raw ${e.label}`,
    path: String(parseQuery(`path=${e.path}`).path),
    rawQuery: e.path,
    readOnly: e.decodedReadOnly,
  });
  // Encoded forms, sent encoded once more: literal names for the server.
  const literal = (e: EncodedPayload): Payload => ({ label: `literal ${e.label}`, path: e.path });
  return [...Object.values(rest).flat(), ...encoded.map(literal), ...encoded.map(raw)];
}

interface Reply {
  status: number;
  type: string;
  body: Buffer;
  json: Record<string, unknown> | null;
}

/** Every response as raw bytes (a file body and a problem alike), JSON parsed when it is JSON. */
async function reply(req: Test): Promise<Reply> {
  const res = await req.buffer(true).parse((r, done) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => done(null, Buffer.concat(chunks)));
  });
  const type = String(res.headers['content-type'] ?? '');
  const body = Buffer.isBuffer(res.body) ? res.body : Buffer.alloc(0);
  let json: Record<string, unknown> | null = null;
  if (/json/.test(type)) json = JSON.parse(body.toString()) as Record<string, unknown>;
  return { status: res.status, type, body, json };
}

/** Why a response is not a proper RFC 9457 problem, or null. */
function notAProblem(r: Reply): string | null {
  if (!/^application\/problem\+json/.test(r.type)) return `content-type ${r.type}`;
  if (r.json?.status !== r.status || typeof r.json?.code !== 'string')
    return `body ${r.body.toString().slice(0, 200)}`;
  return null;
}

const OPS = ['read', 'write', 'list', 'delete', 'move-from', 'move-to'] as const;
type Op = (typeof OPS)[number];

describe('workspace traversal over REST (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let projectId: string;
  let l: Layout;

  beforeAll(async () => {
    t = await createTestApp();
    alice = await registerUser(t.http);
    projectId = (
      await t.http.post('/v1/my/projects').set(alice.auth).send({ name: 'Traversal' }).expect(201)
    ).body.id;
    l = createLayout(t.config.workspace.dir, projectId, 'codelab-traversal-out-');
  });
  afterAll(async () => {
    await t.close();
    if (l) rmSync(l.tmp, { recursive: true, force: true });
  });

  const url = (what: string) => `/v1/my/projects/${projectId}/workspace/${what}`;

  /** One request of `op` with the payload, the way a client would send it. */
  function request(op: Op, payload: Payload, i: number): Test {
    const withPath = (req: Test, extra = '') =>
      payload.rawQuery !== undefined
        ? req
        : req.query(extra ? { path: payload.path, recursive: 'true' } : { path: payload.path });
    const raw = (what: string, extra = '') =>
      payload.rawQuery !== undefined ? `${url(what)}?path=${payload.rawQuery}${extra}` : url(what);
    switch (op) {
      case 'read':
        return withPath(t.http.get(raw('files'))).set(alice.auth);
      case 'write':
        return withPath(t.http.put(raw('files')))
          .set(alice.auth)
          .set('Content-Type', 'application/octet-stream')
          .send(Buffer.from(`written ${i}`));
      case 'list':
        return withPath(t.http.get(raw('entries'))).set(alice.auth);
      case 'delete':
        return withPath(t.http.delete(raw('entries', '&recursive=true')), 'recursive').set(
          alice.auth,
        );
      case 'move-from':
        return t.http
          .post(url('moves'))
          .set(alice.auth)
          .send({ from: payload.path, to: `moved/${i}` });
      case 'move-to':
        return t.http
          .post(url('moves'))
          .set(alice.auth)
          .send({ from: 'victim.txt', to: payload.path });
    }
  }

  /** For a 2xx: why it did not provably stay inside the workspace, if it did not. */
  function outsideProof(op: Op, r: Reply, i: number): string[] {
    const problems: string[] = [];
    const insideAt = (path: unknown, what: string) => {
      if (typeof path !== 'string') return problems.push(`${what}: no path in ${r.type}`);
      const abs = join(l.ws, path);
      let parent = abs;
      try {
        parent = realpathSync(join(abs, '..'));
      } catch {
        // Missing parent: judged lexically below.
      }
      if (!isInside(l.ws, parent)) problems.push(`${what} "${path}" is outside`);
    };
    switch (op) {
      case 'read': {
        const known = [...insideState(l.ws).values()].some((v) => v.endsWith(sha(r.body)));
        if (!known) problems.push('returned content that no file inside holds');
        break;
      }
      case 'write': {
        insideAt(r.json?.path, 'wrote');
        const back = lstatSync(join(l.ws, String(r.json?.path)), { throwIfNoEntry: false });
        if (
          !back?.isFile() ||
          !readFileSync(join(l.ws, String(r.json?.path))).equals(Buffer.from(`written ${i}`))
        )
          problems.push(`"${String(r.json?.path)}" does not hold what was written`);
        break;
      }
      case 'list':
        insideAt(`${String(r.json?.path)}/x`, 'listed');
        break;
      case 'move-from':
      case 'move-to':
        insideAt(r.json?.to, 'moved to');
        if (!lstatSync(join(l.ws, String(r.json?.to)), { throwIfNoEntry: false }))
          problems.push(`moved to "${String(r.json?.to)}" but nothing is there`);
        break;
      case 'delete':
        break;
    }
    return problems;
  }

  it('refuses (4xx problem+json) or contains every payload on every route: 0 escapes, 0 5xx', async () => {
    const table = payloads(l);
    expect(table.length).toBeGreaterThanOrEqual(60);
    const serverErrors: string[] = [];
    const badProblems: string[] = [];
    const { cases, escapes, tally } = await runPayloadCases({
      l,
      entries: workspaceEntries(l),
      ops: OPS,
      readOps: ['read', 'list'],
      table,
      beforeRepair: () => mkdirSync(l.ws, { recursive: true }),
      run: async (op, payload, i) => {
        const r = await reply(request(op, payload, i));
        const name = `${op} ${payload.label} ${JSON.stringify((payload.rawQuery ?? payload.path).slice(0, 80))} -> ${r.status}`;
        const problems: string[] = [];
        if (carriesCanary(r.body)) problems.push('the response carries the canary marker');
        if (r.status >= 500) serverErrors.push(`${name}: ${r.body.toString().slice(0, 300)}`);
        else if (r.status >= 400) {
          const why = notAProblem(r);
          if (why) badProblems.push(`${name}: ${why}`);
        } else problems.push(...outsideProof(op, r, i));
        const outcome =
          r.status < 300
            ? `${r.status} (inside)`
            : `${r.status} ${typeof r.json?.code === 'string' ? r.json.code : ''}`;
        return { name, problems, outcome };
      },
    });
    report(
      `REST payloads: ${table.length} payloads (${table.filter((p) => p.rawQuery).length} as raw ` +
        `query strings), ${cases} requests; ${[...tally]
          .sort()
          .map(([k, n]) => `${k}: ${n}`)
          .join(', ')}`,
    );
    expect(escapes).toEqual([]);
    expect(serverErrors).toEqual([]);
    expect(badProblems).toEqual([]);
  }, 120_000);

  it('answers malformed path parameters (repeated, arrays, objects, wrong types) with 4xx, never 5xx', async () => {
    mkdirSync(l.ws, { recursive: true });
    repairWorkspace(l.ws, workspaceEntries(l), insideState(l.ws));
    const before = outsideState(l);
    const body = (json: string) =>
      t.http.post(url('moves')).set(alice.auth).set('Content-Type', 'application/json').send(json);
    /** [name, request, the `to` a 2xx may report (a legit move inside)]. */
    const cases: [string, Test, string?][] = [
      [
        'GET files, path twice',
        t.http.get(`${url('files')}?path=ok.txt&path=../outside/canary.txt`),
      ],
      [
        'PUT files, path twice',
        t.http
          .put(`${url('files')}?path=a.txt&path=../outside/x.txt`)
          .set('Content-Type', 'text/plain')
          .send('x'),
      ],
      ['GET entries, path twice', t.http.get(`${url('entries')}?path=.&path=..`)],
      [
        'DELETE entries, path twice',
        t.http.delete(`${url('entries')}?path=victim.txt&path=../outside/canary.txt`),
      ],
      ['GET files, path[]', t.http.get(`${url('files')}?path[]=../outside/canary.txt`)],
      ['GET files, path[0] path[1]', t.http.get(`${url('files')}?path[0]=ok.txt&path[1]=..`)],
      ['GET files, path[a]', t.http.get(`${url('files')}?path[a]=../outside/canary.txt`)],
      [
        'PUT files, path[]',
        t.http
          .put(`${url('files')}?path[]=..%2foutside%2fx.txt`)
          .set('Content-Type', 'text/plain')
          .send('x'),
      ],
      ['GET files, empty path', t.http.get(`${url('files')}?path=`)],
      ['GET files, bare path', t.http.get(`${url('files')}?path`)],
      ['GET files, no path', t.http.get(url('files'))],
      ['DELETE entries, no path', t.http.delete(url('entries'))],
      ['DELETE entries, recursive=yes', t.http.delete(`${url('entries')}?path=sub&recursive=yes`)],
      ['GET files, 5 KB path', t.http.get(`${url('files')}?path=${'a/'.repeat(2600)}`)],
      [
        'POST moves, from array',
        body(JSON.stringify({ from: ['victim.txt', '../outside/canary.txt'], to: 'x' })),
      ],
      [
        'POST moves, from object',
        body(JSON.stringify({ from: { path: '../outside/canary.txt' }, to: 'x' })),
      ],
      ['POST moves, from number', body(JSON.stringify({ from: 1, to: 'x' }))],
      ['POST moves, from null', body(JSON.stringify({ from: null, to: 'x' }))],
      ['POST moves, no to', body(JSON.stringify({ from: 'victim.txt' }))],
      [
        'POST moves, to array',
        body(JSON.stringify({ from: 'victim.txt', to: ['x', '../outside/x'] })),
      ],
      [
        'POST moves, JSON-escaped dots',
        body('{"from":"\\u002e\\u002e/outside/canary.txt","to":"x"}'),
      ],
      [
        'POST moves, JSON-escaped NUL',
        body('{"from":"victim.txt","to":"x\\u0000/../../outside/x"}'),
      ],
      // JSON.parse keeps "__proto__" as a plain key (ignored): the move to "y" is legit.
      [
        'POST moves, __proto__',
        body('{"from":"victim.txt","to":"y","__proto__":{"to":"../outside/x"}}'),
        'y',
      ],
      ['POST moves, duplicate key', body('{"from":"victim.txt","to":"y","to":"../outside/x"}')],
      ['POST moves, not JSON', body('{"from":"victim.txt",')],
    ];
    const failures: string[] = [];
    const seen: string[] = [];
    for (const [name, req, legitTo] of cases) {
      const r = await reply(req.set(alice.auth));
      seen.push(`${name}: ${r.status} ${typeof r.json?.code === 'string' ? r.json.code : ''}`);
      if (carriesCanary(r.body)) failures.push(`${name}: the response carries the canary marker`);
      if (r.status < 300 && legitTo !== undefined) {
        if (r.json?.to !== legitTo || !lstatSync(join(l.ws, legitTo), { throwIfNoEntry: false }))
          failures.push(`${name}: ${r.status} ${r.body.toString()}`);
      } else if (r.status < 400 || r.status >= 500) failures.push(`${name}: ${r.status}`);
      else {
        const why = notAProblem(r);
        if (why) failures.push(`${name}: ${why}`);
      }
    }
    failures.push(...outsideChanges(l, before));
    report(`REST malformed parameters: ${cases.length} requests; ${seen.join('; ')}`);
    expect(failures).toEqual([]);
  });
});
