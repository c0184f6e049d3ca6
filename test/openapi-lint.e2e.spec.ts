import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestApp, type TestApp } from './support/test-app';

const REDOCLY = join(__dirname, '..', 'node_modules', '.bin', 'redocly');

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: {
    ruleId: string;
    severity: string;
    message: string;
    location: { pointer: string }[];
  }[];
}

/** The contract the frontend generates its client from: lint-clean by Redocly's recommended rules. */
describe('OpenAPI document lint (Redocly recommended)', () => {
  let t: TestApp;
  let dir: string;

  beforeAll(async () => {
    t = await createTestApp();
    dir = mkdtempSync(join(tmpdir(), 'codelab-openapi-'));
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has 0 errors and 0 warnings', async () => {
    const doc = (await t.http.get('/docs-json').expect(200)).body as Record<string, unknown>;
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    let out: string;
    try {
      out = execFileSync(REDOCLY, ['lint', file, '--format=json', '--extends=recommended'], {
        encoding: 'utf8',
        cwd: dir,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (error) {
      // Problems found: redocly exits 1 and still prints its report.
      out = (error as { stdout?: string }).stdout ?? '';
    }
    const report = JSON.parse(out.slice(out.indexOf('{'))) as LintReport;
    const problems = report.problems.map(
      (p) => `${p.severity} ${p.ruleId}: ${p.message} (${p.location[0]?.pointer ?? ''})`,
    );
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0, ignored: 0 });
    // Every operation has an id, a summary, tags and its security stated.
    const ops = Object.values(
      doc.paths as Record<string, Record<string, Record<string, unknown>>>,
    ).flatMap((item) => Object.values(item));
    expect(ops.length).toBeGreaterThan(40);
    for (const op of ops) {
      expect(op).toEqual(
        expect.objectContaining({
          operationId: expect.any(String),
          summary: expect.any(String),
          tags: expect.any(Array),
          security: expect.any(Array),
        }),
      );
    }
  });
});
