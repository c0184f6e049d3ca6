import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigValidationError,
  ENV_DEFAULTS,
  isPlaceholderSecret,
  loadConfig,
  SHIPPED_JWT_SECRETS,
} from './app-config';

const repoFile = (...path: string[]) =>
  readFileSync(join(__dirname, '..', '..', '..', '..', ...path), 'utf8');

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

  describe('placeholder JWT secrets', () => {
    const production = (secret: string) =>
      loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }, { cwd });

    it('refuses in production every JWT secret our samples ship', () => {
      const compose = /JWT_SECRET: \$\{JWT_SECRET:-(.+)\}/.exec(repoFile('docker-compose.yml'));
      const k8s = /^\s+JWT_SECRET: (\S+)$/m.exec(repoFile('deploy', 'k8s', 'config.yaml'));
      const shipped = [compose?.[1], k8s?.[1]];
      expect(shipped).toEqual([expect.any(String), expect.any(String)]);
      expect(SHIPPED_JWT_SECRETS).toEqual(expect.arrayContaining(shipped));
      for (const secret of shipped as string[]) {
        let error: unknown;
        try {
          production(secret);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(ConfigValidationError);
        expect((error as ConfigValidationError).problems).toEqual([
          expect.stringMatching(/^JWT_SECRET: is a sample or placeholder value/),
        ]);
        // The message never repeats the secret.
        expect((error as Error).message).not.toContain(secret);
      }
    });

    it.each([
      'change-me-please-change-me-please-change-me',
      'CHANGE-ME-0123456789abcdef0123456789abcdef',
      'changeme0123456789abcdef0123456789abcdef',
      'replace-me-0123456789abcdef0123456789abcdef',
      'my-Example-secret-0123456789abcdef01234567',
      'PLACEHOLDER0123456789abcdef0123456789abcdef',
      'a-placeholder-jwt-secret-of-more-than-32-bytes',
    ])('refuses %s in production', (secret) => {
      expect(isPlaceholderSecret(secret)).toBe(true);
      expect(() => production(secret)).toThrow(/JWT_SECRET: is a sample or placeholder value/);
    });

    it('accepts a random secret in production, and placeholders outside production', () => {
      const random = 'Zq3v9J1kR7xT2mN8pL4wB6yC0dF5hG3sK9eA1uV7';
      expect(isPlaceholderSecret(random)).toBe(false);
      expect(production(random).jwt.secret).toBe(random);
      for (const nodeEnv of ['development', 'test']) {
        const config = loadConfig(
          { NODE_ENV: nodeEnv, JWT_SECRET: SHIPPED_JWT_SECRETS[0] },
          { cwd },
        );
        expect(config.jwt.secret).toBe(SHIPPED_JWT_SECRETS[0]);
      }
    });
  });

  describe('HTTP server limits and the metrics port', () => {
    it('defaults: 20 s for headers, 30 s per request, 65 s keep-alive, 16 KiB of headers, metrics on 9464', () => {
      const config = loadConfig({}, { cwd });
      expect(config.http).toMatchObject({
        headersTimeoutMs: 20_000,
        requestTimeoutMs: 30_000,
        keepAliveTimeoutMs: 65_000,
        maxHeaderBytes: 16_384,
      });
      expect(config.metricsPort).toBe(9464);
      expect(loadConfig({ METRICS_PORT: '0' }, { cwd }).metricsPort).toBe(0);
    });

    it('refuses limits out of range, a headers timeout above the request timeout, and METRICS_PORT = PORT', () => {
      let error: unknown;
      try {
        loadConfig(
          {
            HTTP_HEADERS_TIMEOUT_MS: '40000',
            HTTP_REQUEST_TIMEOUT_MS: '30000',
            HTTP_KEEP_ALIVE_TIMEOUT_MS: '0',
            HTTP_MAX_HEADER_BYTES: '10',
            PORT: '8080',
            METRICS_PORT: '8080',
          },
          { cwd },
        );
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigValidationError);
      const problems = (error as ConfigValidationError).problems;
      expect(problems).toHaveLength(4);
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^HTTP_KEEP_ALIVE_TIMEOUT_MS: must be an integer/),
          expect.stringMatching(/^HTTP_MAX_HEADER_BYTES: must be an integer/),
          expect.stringMatching(
            /^HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS/,
          ),
          expect.stringMatching(/^METRICS_PORT: must differ from PORT/),
        ]),
      );
      expect(() => loadConfig({ METRICS_PORT: '70000' }, { cwd })).toThrow(/METRICS_PORT/);
    });
  });

  it('documents every variable in the README table, with its default', () => {
    const readme = repoFile('README.md');
    const rows = new Map<string, string>();
    for (const line of readme.split('\n')) {
      const cells = line.split('|').map((c) => c.trim());
      // | `NAME` | default | meaning |  (or `A` / `B` | `a` / `b` | ...)
      const names = [...(cells[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]);
      const values = [...(cells[2] ?? '').matchAll(/`([^`]*)`/g)].map((m) => m[1]);
      names.forEach((name, i) => rows.set(name, values.length === names.length ? values[i] : ''));
    }
    const missing = Object.keys(ENV_DEFAULTS).filter((name) => !rows.has(name));
    expect(missing).toEqual([]);
    // Where the README gives a literal default, it is the one the config applies.
    const wrong = Object.entries(ENV_DEFAULTS).filter(([name, value]) => {
      const documented = rows.get(name);
      return documented !== '' && documented !== undefined && value !== '' && documented !== value;
    });
    expect(wrong).toEqual([]);
  });

  it('documents every variable in .env.example', () => {
    const example = repoFile('.env.example');
    const missing = Object.keys(ENV_DEFAULTS).filter(
      (name) => !new RegExp(`^${name}=`, 'm').test(example),
    );
    expect(missing).toEqual([]);
  });
});
