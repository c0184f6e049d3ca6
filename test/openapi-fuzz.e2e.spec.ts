import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { MikroORM } from '@mikro-orm/postgresql';
import type request from 'supertest';
import { waitFor } from './support/child-process';
import type { OpenApiDocument } from './support/openapi-validator';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';
import { createTestApp, registerUser, type TestApp, type TestUser } from './support/test-app';

/**
 * Walks every operation of the served OpenAPI document with hostile input: each case breaks the
 * documented contract in one place (a path id, a query parameter, a header, one body field, the
 * whole body, the credentials) on top of an otherwise valid request. Every answer must be a 4xx
 * application/problem+json that the document declares (the contract validator of the test app
 * checks that), never a 5xx, and the database must be exactly as it was.
 *
 * Deterministic: a fixed seed (FUZZ_SEED overrides it; fast-check prints the seed and the shrunk
 * case on failure). FUZZ_RUNS sets the random cases per operation on top of the fixed ones.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
const RANDOM_RUNS = Number(process.env.FUZZ_RUNS ?? 25);

type Json = unknown;
type Schema = {
  $ref?: string;
  allOf?: Schema[];
  type?: string;
  format?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  nullable?: boolean;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
};
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: Schema;
}
interface Operation {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema?: Schema }> };
  security?: Record<string, string[]>[];
}

interface Case {
  what: string;
  path?: Record<string, string>;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  /** A JSON value to send, or raw text (sent as application/json). */
  body?: { json: Json } | { raw: string };
  as?: 'anonymous' | 'garbage-token' | 'other-user';
}

const NUL = 'a\u0000b';
const SURROGATE = 'a\uD800b';
const nested = (depth: number): Json => {
  let value: Json = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
};

describe('fuzz: every operation of the OpenAPI document with hostile input (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let document: OpenApiDocument;
  const ids: Record<string, string> = {};
  const bobIds: Record<string, string> = {};

  /** One digest per table: any row inserted, changed or deleted shows. */
  async function tableDigests(): Promise<Record<string, string>> {
    const connection = t.app.get(MikroORM).em.getConnection();
    const tables = (await connection.execute(
      `select tablename from pg_tables where schemaname = current_schema() and tablename <> 'mikro_orm_migrations' order by 1`,
    )) as { tablename: string }[];
    const digests: Record<string, string> = {};
    for (const { tablename } of tables) {
      const [row] = (await connection.execute(
        `select count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' order by t::text)), '') as d from "${tablename}" t`,
      )) as { d: string }[];
      digests[tablename] = row.d;
    }
    return digests;
  }

  async function owned(user: TestUser, into: Record<string, string>): Promise<void> {
    into.projectId = await createProject(t.http, user, 'Fuzz');
    into.sessionId = await createSession(t.http, user, into.projectId);
    const agents = await t.http
      .get(`/v1/my/projects/${into.projectId}/agents`)
      .set(user.auth)
      .expect(200);
    into.agentId = agents.body.items[0].id;
    const { run } = await sendMessage(t.http, user, into.projectId, into.sessionId, {
      content: 'hello',
    });
    into.runId = run.id;
    await waitForRun(t.http, user, into.projectId, into.sessionId, run.id);
    await t.http
      .put(`/v1/my/projects/${into.projectId}/workspace/files`)
      .query({ path: 'notes.txt' })
      .set(user.auth)
      .set('Content-Type', 'text/plain')
      .send('hello')
      .expect(201);
  }

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'all', RUN_RELAY_INTERVAL_MS: '300' } });
    document = (await t.http.get('/docs-json').expect(200)).body as OpenApiDocument;
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
    await owned(alice, ids);
    await owned(bob, bobIds);
    // Ids nobody has: an approval and a memory of this user would be found, these are not.
    ids.approvalId = bobIds.approvalId = randomUUID();
    ids.memoryId = bobIds.memoryId = randomUUID();
  }, 60_000);
  afterAll(async () => {
    await t.close();
  });

  const resolve = (schema: Schema | undefined): Schema => {
    if (!schema) return {};
    if (schema.$ref) {
      const name = schema.$ref.split('/').pop() as string;
      return resolve(document.components?.schemas?.[name] as Schema);
    }
    if (schema.allOf?.length === 1) return { ...resolve(schema.allOf[0]), ...schema, allOf: [] };
    return schema;
  };

  /** A value the schema accepts, for the fields the request must carry. */
  const sample = (s: Schema, name: string): Json => {
    const schema = resolve(s);
    if (schema.enum) return schema.enum.find((v) => v !== null);
    switch (schema.type) {
      case 'number':
      case 'integer':
        return schema.minimum ?? 1;
      case 'boolean':
        return false;
      case 'array':
        return [];
      case 'object':
        return Object.fromEntries(
          (schema.required ?? []).map((k) => [k, sample(schema.properties?.[k] ?? {}, k)]),
        );
      default:
        if (schema.format === 'uuid') return randomUUID();
        if (name === 'email') return `fuzz_${randomUUID()}@example.com`;
        return 'x'.repeat(Math.max(schema.minLength ?? 0, name === 'password' ? 12 : 4));
    }
  };

  /** Values the schema refuses: fixed ones, then generated ones. */
  function hostileValues(s: Schema): { fixed: Json[]; random: fc.Arbitrary<Json>[] } {
    const schema = resolve(s);
    const fixed: Json[] = [];
    const random: fc.Arbitrary<Json>[] = [];
    if (!schema.nullable) fixed.push(null);
    const wrongTypes = fc.oneof(
      fc.integer(),
      fc.boolean(),
      fc.array(fc.integer(), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
    );
    switch (schema.type) {
      case 'string':
        fixed.push(NUL, SURROGATE, 42, true, [], {});
        if (schema.enum) fixed.push('not-one-of-them');
        if (schema.format === 'uuid') fixed.push('not-a-uuid');
        if (schema.maxLength !== undefined) {
          fixed.push('y'.repeat(schema.maxLength + 1));
          random.push(
            fc
              .integer({ min: schema.maxLength + 1, max: schema.maxLength * 2 + 10 })
              // Code points, as JSON Schema counts them: 4-byte characters at the boundary.
              .map((n) => '\u{1F600}'.repeat(n)),
          );
        }
        if ((schema.minLength ?? 0) > 0) fixed.push('');
        random.push(
          fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${a}\u0000${b}`),
          fc
            .tuple(fc.string(), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string())
            .map(([a, c, b]) => a + String.fromCharCode(c) + b),
          wrongTypes.filter((v) => typeof v !== 'string'),
        );
        break;
      case 'number':
      case 'integer':
        fixed.push('1', true, {}, []);
        if (schema.minimum !== undefined) fixed.push(schema.minimum - 1, -1e308);
        if (schema.maximum !== undefined) fixed.push(schema.maximum + 1, 1e308);
        if (schema.maximum !== undefined)
          random.push(fc.double({ min: schema.maximum + 1, noNaN: true, noDefaultInfinity: true }));
        if (schema.minimum !== undefined)
          random.push(fc.double({ max: schema.minimum - 1, noNaN: true, noDefaultInfinity: true }));
        break;
      case 'boolean':
        fixed.push('true', 1, {});
        break;
      case 'array': {
        const items = resolve(schema.items);
        fixed.push('x', 1, {});
        if (items.type === 'string') fixed.push([NUL], [SURROGATE], [1]);
        if (items.enum) fixed.push(['not-one-of-them']);
        break;
      }
      default:
        // Objects (and $ref'd nested DTOs): the wrong shape, an unknown member, depth.
        fixed.push('x', 1, [], nested(100));
        if (schema.properties) fixed.push({ not_a_field: 1 });
    }
    return { fixed, random };
  }

  /** Every hostile case of one operation: fixed ones, and generators for random ones. */
  function casesOf(op: Operation): { fixed: Case[]; random: fc.Arbitrary<Case>[] } {
    const fixed: Case[] = [];
    const random: fc.Arbitrary<Case>[] = [];
    const parameters = op.parameters ?? [];
    const isPublic = op.security?.length === 0;
    const streams = op.operationId === 'SessionEventsController_events';

    for (const p of parameters.filter((x) => x.in === 'path')) {
      for (const value of [
        'not-a-uuid',
        '%00',
        '%ED%A0%80',
        'a'.repeat(400),
        '..%2F..',
        randomUUID(),
      ])
        fixed.push({ what: `path ${p.name}=${value.slice(0, 20)}`, path: { [p.name]: value } });
      if (bobIds[p.name] && bobIds[p.name] !== ids[p.name])
        fixed.push({ what: `path ${p.name}: another user's`, path: { [p.name]: bobIds[p.name] } });
    }

    for (const p of parameters.filter((x) => x.in === 'query')) {
      const schema = resolve(p.schema);
      const values: (string | string[])[] = [NUL, ['1', '2']];
      if (schema.type === 'number' || schema.type === 'integer') {
        values.push('abc', '1e309');
        if (schema.minimum !== undefined) values.push(String(schema.minimum - 1));
        if (schema.maximum !== undefined) values.push(String(schema.maximum + 1));
      } else if (schema.type === 'boolean') values.push('maybe');
      else if (schema.enum) values.push('not-one-of-them');
      else if (schema.format === 'uuid') values.push('not-a-uuid');
      else if (p.name === 'cursor')
        values.push(
          'garbage!!',
          Buffer.from('{"t":"+275760-09-13T00:00:00.000Z","id":"x"}').toString('base64url'),
        );
      else if (p.name === 'path') values.push('../../etc/passwd', '/etc/passwd');
      // last_event_id: an unknown or malformed point is answered `resync` on the stream, by design.
      // stream_token: with a valid bearer token the header decides, so a bad one is no error.
      if (p.name === 'stream_token') continue;
      for (const value of values)
        fixed.push({
          what: `query ${p.name}=${JSON.stringify(value).slice(0, 30)}`,
          query: { [p.name]: value },
        });
      if (schema.type === 'number') {
        const { minimum, maximum } = schema;
        const beyond = fc.integer({ min: 1, max: 1e9 });
        random.push(
          fc
            .oneof(
              fc.string({ minLength: 1 }).filter((s) => !/^\s*[-+]?[\d.e+]+\s*$/i.test(s)),
              ...(maximum === undefined ? [] : [beyond.map((d) => maximum + d)]),
              ...(minimum === undefined ? [] : [beyond.map((d) => minimum - d)]),
            )
            .map((v) => ({ what: `query ${p.name}=${String(v)}`, query: { [p.name]: String(v) } })),
        );
      }
    }

    for (const p of parameters.filter((x) => x.in === 'header')) {
      if (p.name === 'Idempotency-Key')
        for (const value of ['has space', 'k'.repeat(256), 'ümlaut'])
          fixed.push({
            what: `header ${p.name}=${value.slice(0, 20)}`,
            headers: { [p.name]: value },
          });
      if (p.name === 'If-Match')
        fixed.push({ what: 'header If-Match mismatch', headers: { 'If-Match': '"not-the-etag"' } });
    }

    const jsonBody = op.requestBody?.content['application/json']?.schema;
    if (jsonBody) {
      const schema = resolve(jsonBody);
      for (const raw of [
        '{"a":',
        '[]',
        '"text"',
        '42',
        'null',
        '['.repeat(10_000) + ']'.repeat(10_000),
      ])
        fixed.push({ what: `body ${raw.slice(0, 12)}`, body: { raw } });
      fixed.push({
        what: 'body: an unknown member',
        body: { json: { ...base(op), not_a_field: 1 } },
      });
      fixed.push({
        what: 'body: nested 100 deep',
        body: { json: { ...base(op), deep: nested(100) } },
      });
      fixed.push({
        what: 'body over the size limit',
        body: { json: { ...base(op), pad: 'p'.repeat(t.config.http.bodyLimitBytes) } },
      });
      for (const [field, fieldSchema] of Object.entries(schema.properties ?? {})) {
        const { fixed: bad, random: generated } = hostileValues(fieldSchema);
        for (const value of bad)
          fixed.push({
            what: `body ${field}=${JSON.stringify(value)?.slice(0, 30)}`,
            body: { json: { ...base(op), [field]: value } },
          });
        for (const arbitrary of generated)
          random.push(
            arbitrary.map((value) => ({
              what: `body ${field}=${JSON.stringify(value)?.slice(0, 60)}`,
              body: { json: { ...base(op), [field]: value } },
            })),
          );
      }
    }

    if (!isPublic) {
      fixed.push({ what: 'no credentials', as: 'anonymous' });
      fixed.push({ what: 'a forged token', as: 'garbage-token' });
      if (parameters.some((p) => p.in === 'path' && p.name === 'projectId'))
        fixed.push({ what: "another user's token", as: 'other-user' });
    }
    // The events route answers a valid request with an endless stream: only broken ones here.
    if (streams) return { fixed: fixed.filter((c) => !c.headers), random };
    return { fixed, random };
  }

  const bases = new Map<string, Record<string, Json>>();
  /** The valid body the case breaks (required members only, e.g. a fresh e-mail). */
  function base(op: Operation): Record<string, Json> {
    let body = bases.get(op.operationId);
    if (!body) {
      body = sample(op.requestBody?.content['application/json']?.schema ?? {}, '') as Record<
        string,
        Json
      >;
      bases.set(op.operationId, body);
    }
    return body;
  }

  function send(method: string, template: string, op: Operation, c: Case): request.Test {
    const path = template.replace(
      /\{(\w+)\}/g,
      (_, name: string) => c.path?.[name] ?? encodeURIComponent(ids[name]),
    );
    const query = { ...requiredQuery(op), ...c.query };
    const search = Object.entries(query)
      .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${encodeURIComponent(x)}`))
      .join('&');
    const url = search ? `${path}?${search}` : path;
    let req = (t.http as unknown as Record<string, (url: string) => request.Test>)[method](url);
    req = req.timeout({ response: 10_000, deadline: 20_000 });
    if (c.as === 'garbage-token') req = req.set('Authorization', 'Bearer not.a.token');
    else if (c.as === 'other-user') req = req.set(bob.auth);
    else if (c.as !== 'anonymous') req = req.set(alice.auth);
    for (const [name, value] of Object.entries(c.headers ?? {})) req = req.set(name, value);
    const content = op.requestBody?.content;
    if (c.body && 'raw' in c.body)
      return req.set('Content-Type', 'application/json').send(c.body.raw);
    if (c.body) return req.send(c.body.json as object);
    if (content?.['application/json']) return req.send(base(op));
    if (content) return req.set('Content-Type', 'text/plain').send('hello');
    return req;
  }

  const requiredQuery = (op: Operation): Record<string, string> =>
    Object.fromEntries(
      (op.parameters ?? [])
        .filter((p) => p.in === 'query' && p.required)
        .map((p) => [
          p.name,
          p.name === 'path' ? 'notes.txt' : String(sample(p.schema ?? {}, p.name)),
        ]),
    );

  it('answers every hostile case with a documented 4xx problem and stores nothing', async () => {
    await waitFor('the database to settle', async () => {
      const first = JSON.stringify(await tableDigests());
      return first === JSON.stringify(await tableDigests());
    });
    const before = await tableDigests();
    const failures: string[] = [];
    let cases = 0;
    let operations = 0;
    const statuses = new Map<number, number>();

    const check = async (method: string, template: string, op: Operation, c: Case) => {
      cases++;
      let res: request.Response;
      try {
        res = await send(method, template, op, c);
      } catch (error) {
        throw new Error(
          `${method.toUpperCase()} ${template} [${c.what}]: ${(error as Error).message}`,
          { cause: error },
        );
      }
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const problem = res.body as { status?: number; code?: unknown };
      if (
        res.status < 400 ||
        res.status >= 500 ||
        !/^application\/problem\+json/.test(res.headers['content-type'] ?? '') ||
        problem.status !== res.status ||
        typeof problem.code !== 'string'
      )
        throw new Error(
          `${method.toUpperCase()} ${template} [${c.what}] -> ${res.status} ${res.headers['content-type']}: ${(res.text ?? '').slice(0, 300)}`,
        );
    };

    for (const [template, item] of Object.entries(document.paths)) {
      for (const [method, op] of Object.entries(item as Record<string, Operation>)) {
        operations++;
        const started = Date.now();
        const { fixed, random } = casesOf(op);
        if (process.env.FUZZ_ONLY && !new RegExp(process.env.FUZZ_ONLY).test(template)) continue;
        for (const c of fixed)
          await check(method, template, op, c).catch((e: Error) => failures.push(e.message));
        const result =
          random.length > 0
            ? await fc.check(
                fc.asyncProperty(fc.oneof(...random), (c) => check(method, template, op, c)),
                { seed: SEED, numRuns: RANDOM_RUNS, endOnFailure: true },
              )
            : undefined;
        if (result?.failed)
          failures.push(
            `${method.toUpperCase()} ${template}: seed ${SEED}: ${String(result.errorInstance)}`,
          );
        if (process.env.FUZZ_DEBUG)
          process.stderr.write(
            `${method} ${template}: ${fixed.length} fixed, ${Date.now() - started} ms\n${failures.splice(0).join('\n')}\n`,
          );
      }
    }

    expect(failures).toEqual([]);
    expect(operations).toBeGreaterThanOrEqual(40);
    expect(await tableDigests()).toEqual(before);
    process.stdout.write(
      `openapi fuzz: ${operations} operations, ${cases} hostile cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}\n`,
    );
  }, 300_000);
});
