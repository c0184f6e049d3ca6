import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from './support/child-process';
import {
  createTestApp,
  expectProblem,
  registerUser,
  type TestApp,
  type TestUser,
} from './support/test-app';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe('workspace REST (e2e)', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let projectId: string;

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        APP_ROLE: 'all',
        WORKSPACE_MAX_FILE_BYTES: '4096',
        WORKSPACE_MAX_TOTAL_BYTES: '20000',
        WORKSPACE_MAX_FILES: '30',
      },
    });
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
    projectId = (
      await t.http.post('/v1/my/projects').set(alice.auth).send({ name: 'Files' }).expect(201)
    ).body.id;
  });
  afterAll(async () => {
    await t.close();
  });

  const url = (what: string, pid = projectId) => `/v1/my/projects/${pid}/workspace/${what}`;
  const put = (path: string, body: string, user = alice) =>
    t.http
      .put(url('files'))
      .query({ path })
      .set(user.auth)
      .set('Content-Type', 'application/octet-stream')
      .send(Buffer.from(body));
  const root = () => join(t.config.workspace.dir, projectId);

  it('creates the workspace with the project: an empty root lists', async () => {
    expect(existsSync(root())).toBe(true);
    const listed = await t.http.get(url('entries')).set(alice.auth).expect(200);
    expect(listed.body).toEqual({ path: '.', items: [], next_cursor: null });
  });

  it('writes, reads with an ETag, and answers 304 while unchanged', async () => {
    const created = await put('src/app.ts', 'export const a = 1;\n').expect(201);
    expect(created.body).toEqual({
      path: 'src/app.ts',
      size: 20,
      sha256: sha('export const a = 1;\n'),
      created: true,
    });
    expect(created.headers.etag).toBe(`"${sha('export const a = 1;\n')}"`);
    expect(await readFile(join(root(), 'src/app.ts'), 'utf8')).toBe('export const a = 1;\n');

    const read = await t.http
      .get(url('files'))
      .query({ path: 'src/app.ts' })
      .set(alice.auth)
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      })
      .expect(200);
    expect((read.body as Buffer).toString()).toBe('export const a = 1;\n');
    expect(read.headers.etag).toBe(created.headers.etag);
    await t.http
      .get(url('files'))
      .query({ path: 'src/app.ts' })
      .set(alice.auth)
      .set('If-None-Match', created.headers.etag)
      .expect(304);
    const replaced = await put('./src//app.ts', 'export const a = 2;\n').expect(200);
    expect(replaced.body.created).toBe(false);
  });

  it('enforces If-Match and If-None-Match: * with 412, writing nothing', async () => {
    await put('c.txt', 'one').expect(201);
    const stale = await t.http
      .put(url('files'))
      .query({ path: 'c.txt' })
      .set(alice.auth)
      .set('If-Match', `"${sha('zero')}"`)
      .set('Content-Type', 'text/plain')
      .send('two');
    expectProblem(stale, 412, 'PRECONDITION_FAILED');
    expect(stale.body.current_sha256).toBe(sha('one'));
    const createOnly = await t.http
      .put(url('files'))
      .query({ path: 'c.txt' })
      .set(alice.auth)
      .set('If-None-Match', '*')
      .set('Content-Type', 'text/plain')
      .send('three');
    expectProblem(createOnly, 412, 'PRECONDITION_FAILED');
    expect(await readFile(join(root(), 'c.txt'), 'utf8')).toBe('one');
    await t.http
      .put(url('files'))
      .query({ path: 'c.txt' })
      .set(alice.auth)
      .set('If-Match', `"${sha('one')}"`)
      .set('Content-Type', 'text/plain')
      .send('four')
      .expect(200);
    expect(await readFile(join(root(), 'c.txt'), 'utf8')).toBe('four');
    const badEtag = await t.http
      .put(url('files'))
      .query({ path: 'c.txt' })
      .set(alice.auth)
      .set('If-Match', 'nonsense')
      .send(Buffer.from('x'));
    expectProblem(badEtag, 400, 'VALIDATION_FAILED');
  });

  it('lists a directory by name with keyset pages, symlinks listed but not followed', async () => {
    for (const name of ['b.md', 'a.md', 'c.md']) await put(`docs/${name}`, name).expect(201);
    await mkdir(join(root(), 'docs/sub'));
    await symlink('/etc/hostname', join(root(), 'docs/z-link'));
    const first = await t.http
      .get(url('entries'))
      .query({ path: 'docs', limit: 2 })
      .set(alice.auth)
      .expect(200);
    expect(first.body.items.map((e: { name: string }) => e.name)).toEqual(['a.md', 'b.md']);
    expect(first.body.items[0]).toMatchObject({
      path: 'docs/a.md',
      type: 'file',
      size: 4,
      sha256: sha('a.md'),
    });
    const rest = await t.http
      .get(url('entries'))
      .query({ path: 'docs', limit: 10, cursor: first.body.next_cursor })
      .set(alice.auth)
      .expect(200);
    expect(rest.body.items.map((e: { name: string; type: string }) => [e.name, e.type])).toEqual([
      ['c.md', 'file'],
      ['sub', 'directory'],
      ['z-link', 'symlink'],
    ]);
    expect(rest.body.next_cursor).toBeNull();
    // The link is never followed: reading it is refused, and so is writing through it.
    expectProblem(
      await t.http.get(url('files')).query({ path: 'docs/z-link' }).set(alice.auth),
      403,
      'PATH_ESCAPES_WORKSPACE',
    );
    expectProblem(
      await t.http.get(url('entries')).query({ path: 'docs', cursor: '!!' }).set(alice.auth),
      400,
      'INVALID_CURSOR',
    );
  });

  it('moves without overwriting and deletes (directories only when recursive)', async () => {
    await put('m/one.txt', '1').expect(201);
    await put('m/two.txt', '2').expect(201);
    await t.http
      .post(url('moves'))
      .set(alice.auth)
      .send({ from: 'm/one.txt', to: 'n/uno.txt' })
      .expect(200, { from: 'm/one.txt', to: 'n/uno.txt' });
    expect(existsSync(join(root(), 'm/one.txt'))).toBe(false);
    expect(await readFile(join(root(), 'n/uno.txt'), 'utf8')).toBe('1');
    expectProblem(
      await t.http.post(url('moves')).set(alice.auth).send({ from: 'm/two.txt', to: 'n/uno.txt' }),
      409,
      'ALREADY_EXISTS',
    );
    expectProblem(
      await t.http.delete(url('entries')).query({ path: 'm' }).set(alice.auth),
      409,
      'DIRECTORY_NOT_EMPTY',
    );
    await t.http
      .delete(url('entries'))
      .query({ path: 'm', recursive: 'true' })
      .set(alice.auth)
      .expect(204);
    expect(existsSync(join(root(), 'm'))).toBe(false);
    expectProblem(
      await t.http.delete(url('entries')).query({ path: 'm' }).set(alice.auth),
      404,
      'FILE_NOT_FOUND',
    );
  });

  it('refuses over-quota writes with 422 and keeps the old content', async () => {
    await put('q.txt', 'keep').expect(201);
    const big = await put('q.txt', 'x'.repeat(5000));
    expectProblem(big, 422, 'QUOTA_EXCEEDED');
    expect(await readFile(join(root(), 'q.txt'), 'utf8')).toBe('keep');
    for (let i = 0; i < 4; i++) await put(`fill/${i}.bin`, 'y'.repeat(4000)).expect(201);
    const total = await put('fill/last.bin', 'y'.repeat(4000));
    expectProblem(total, 422, 'QUOTA_EXCEEDED');
    expect(existsSync(join(root(), 'fill/last.bin'))).toBe(false);
  });

  it('lists a hard-linked file without its digest and refuses to read it', async () => {
    await writeFile(join(t.config.workspace.dir, 'outside-hard.txt'), 'outside content');
    await mkdir(join(root(), 'hl'), { recursive: true });
    await link(join(t.config.workspace.dir, 'outside-hard.txt'), join(root(), 'hl/linked.txt'));
    const listed = await t.http
      .get(url('entries'))
      .query({ path: 'hl' })
      .set(alice.auth)
      .expect(200);
    expect(listed.body.items).toEqual([
      expect.objectContaining({ name: 'linked.txt', type: 'file', sha256: null }),
    ]);
    const read = await t.http.get(url('files')).query({ path: 'hl/linked.txt' }).set(alice.auth);
    expectProblem(read, 403, 'PATH_ESCAPES_WORKSPACE');
    expect(JSON.stringify(read.body)).not.toContain('outside content');
  });

  it('refuses traversal and bad paths with 400 before touching the disk', async () => {
    await writeFile(join(t.config.workspace.dir, 'secret.txt'), 'outside');
    for (const path of [
      '../secret.txt',
      '/etc/passwd',
      'a/../../secret.txt',
      'a\\b',
      'x\u0000y',
      '',
    ]) {
      const res = await t.http.get(url('files')).query({ path }).set(alice.auth);
      expectProblem(res, 400);
    }
    expectProblem(await put('../escape.txt', 'no'), 400, 'INVALID_PATH');
    expect(existsSync(join(t.config.workspace.dir, 'escape.txt'))).toBe(false);
  });

  it("is a 404 on every route for another user's project", async () => {
    const checks = [
      t.http.get(url('entries')).set(bob.auth),
      t.http.get(url('files')).query({ path: 'c.txt' }).set(bob.auth),
      put('c.txt', 'stolen', bob),
      t.http.delete(url('entries')).query({ path: 'c.txt' }).set(bob.auth),
      t.http.post(url('moves')).set(bob.auth).send({ from: 'c.txt', to: 'd.txt' }),
    ];
    for (const res of await Promise.all(checks)) expectProblem(res, 404, 'NOT_FOUND');
    expect(await readFile(join(root(), 'c.txt'), 'utf8')).toBe('four');
  });

  it('refuses a JSON body for a file with a clear 400', async () => {
    const res = await t.http
      .put(url('files'))
      .query({ path: 'j.json' })
      .set(alice.auth)
      .send({ a: 1 });
    expectProblem(res, 400, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it("removes the project's files when the project is deleted", async () => {
    const pid = (
      await t.http.post('/v1/my/projects').set(alice.auth).send({ name: 'Temp' }).expect(201)
    ).body.id;
    await t.http
      .put(url('files', pid))
      .query({ path: 'x.txt' })
      .set(alice.auth)
      .set('Content-Type', 'text/plain')
      .send('x')
      .expect(201);
    expect(existsSync(join(t.config.workspace.dir, pid, 'x.txt'))).toBe(true);
    await t.http.delete(`/v1/my/projects/${pid}`).set(alice.auth).expect(204);
    // The project.deleted domain event reaches the worker's handler (APP_ROLE=all).
    await waitFor(
      'the workspace removed',
      async () => !existsSync(join(t.config.workspace.dir, pid)),
      15_000,
    );
  });
});
