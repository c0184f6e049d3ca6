import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules', '.bin', 'depcruise');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

function cruise(cwd: string, targets: string[]): { violations: Violation[]; modules: number } {
  let out: string;
  try {
    out = execFileSync(DEPCRUISE, [...targets, '--config', CONFIG, '--output-type', 'json'], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    // depcruise exits non-zero when it finds violations; the report is still on stdout.
    out = (error as { stdout: string }).stdout;
  }
  const report = JSON.parse(out) as { summary: { violations: Violation[]; totalCruised: number } };
  return { violations: report.summary.violations, modules: report.summary.totalCruised };
}

describe('architecture rules (dependency-cruiser)', () => {
  it('hold for the code base', () => {
    const { violations, modules } = cruise(ROOT, [
      'apps',
      'libs',
      'mikro-orm.config.ts',
      'migrations',
    ]);
    expect(modules).toBeGreaterThan(50);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
  });

  it('catch each kind of violation (fixture with known offences)', () => {
    const fixture = join(__dirname, 'fixtures', 'architecture');
    const { violations } = cruise(fixture, ['apps', 'libs']);
    const found = violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
    expect(found).toEqual([
      'lib-public-api-only: libs/beta/src/index.ts -> libs/alpha/src/internal.ts',
      'libs-not-into-apps: libs/gamma/src/index.ts -> apps/api/src/main.ts',
      'platform-is-the-base: libs/platform/src/index.ts -> libs/alpha/src/index.ts',
    ]);
  });

  it('nest-cli.json lists every app and lib (the Nest CLI builds what it knows)', () => {
    const cli = JSON.parse(readFileSync(join(ROOT, 'nest-cli.json'), 'utf8')) as {
      projects: Record<string, { type: string; root: string }>;
    };
    const listed = Object.values(cli.projects)
      .map((p) => p.root)
      .sort();
    const onDisk = [
      ...readdirSync(join(ROOT, 'apps')).map((a) => `apps/${a}`),
      ...readdirSync(join(ROOT, 'libs')).map((l) => `libs/${l}`),
    ].sort();
    expect(listed).toEqual(onDisk);
  });
});
