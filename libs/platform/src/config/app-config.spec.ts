import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigValidationError, ENV_DEFAULTS, loadConfig } from './app-config';

describe('loadConfig', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'codelab-config-'));

  it('works with no environment at all and generates a development secret once', () => {
    const generated: string[] = [];
    const first = loadConfig({}, { cwd, onGeneratedSecret: (p) => generated.push(p) });
    expect(first.port).toBe(3000);
    expect(first.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/codelab');
    expect(first.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(first.role).toBe('all');
    expect(first.jwt.secret.length).toBeGreaterThanOrEqual(32);
    expect(generated).toHaveLength(1);
    expect(readFileSync(generated[0], 'utf8').trim()).toBe(first.jwt.secret);

    const second = loadConfig({}, { cwd, onGeneratedSecret: (p) => generated.push(p) });
    expect(second.jwt.secret).toBe(first.jwt.secret);
    expect(generated).toHaveLength(1);
  });

  it('lists one line per bad variable', () => {
    let error: unknown;
    try {
      loadConfig(
        { PORT: 'abc', APP_ROLE: 'both', DATABASE_URL: 'mysql://x', DB_MIGRATE_ON_START: 'maybe' },
        { cwd },
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigValidationError);
    const problems = (error as ConfigValidationError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.some((p) => p.startsWith('PORT:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('APP_ROLE:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('DATABASE_URL:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('DB_MIGRATE_ON_START:'))).toBe(true);
  });

  it('requires a strong JWT secret in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' }, { cwd })).toThrow(/JWT_SECRET: required/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'short' }, { cwd })).toThrow(
      /at least 32 bytes/,
    );
    const ok = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }, { cwd });
    expect(ok.jwt.secret).toBe('x'.repeat(32));
  });

  it('refuses the test-only tools in production', () => {
    expect(() =>
      loadConfig(
        { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), TEST_TOOLS: 'true' },
        { cwd },
      ),
    ).toThrow(/TEST_TOOLS: test-only tools cannot be enabled/);
  });

  it('documents every variable in .env.example', () => {
    const example = readFileSync(join(__dirname, '..', '..', '..', '..', '.env.example'), 'utf8');
    const missing = Object.keys(ENV_DEFAULTS).filter(
      (name) => !new RegExp(`^${name}=`, 'm').test(example),
    );
    expect(missing).toEqual([]);
  });
});
