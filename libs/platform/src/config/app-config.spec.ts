import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import {
  appRootDir,
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
  // Where the default DATA_DIR (`<app root>/.codelab`) goes in these tests: never the checkout's.
  const appRoot = cwd;

  it('works with no environment at all and generates a development secret once', () => {
    const generated: string[] = [];
    const first = loadConfig({}, { cwd, appRoot, onGeneratedSecret: (p) => generated.push(p) });
    expect(first.port).toBe(3000);
    expect(first.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/codelab');
    expect(first.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(first.role).toBe('all');
    expect(first.jwt.secret.length).toBeGreaterThanOrEqual(32);
    expect(generated).toEqual([join(appRoot, '.codelab', 'jwt-secret')]);
    expect(readFileSync(generated[0], 'utf8').trim()).toBe(first.jwt.secret);

    const second = loadConfig({}, { cwd, appRoot, onGeneratedSecret: (p) => generated.push(p) });
    expect(second.jwt.secret).toBe(first.jwt.secret);
    expect(generated).toHaveLength(1);
  });

  describe('DATA_DIR', () => {
    const secret = { JWT_SECRET: 'x'.repeat(40) };

    it("defaults to `.codelab` in the app's root (where package.json is), not in the working directory", () => {
      const root = appRootDir();
      expect(readFileSync(join(root, 'package.json'), 'utf8')).toContain('"name": "codelab"');
      // This spec is in <root>/libs/platform/src/config.
      expect(root).toBe(join(__dirname, '..', '..', '..', '..'));
      const here = loadConfig(secret, { cwd: mkdtempSync(join(tmpdir(), 'codelab-cwd-a-')) });
      const there = loadConfig(secret, { cwd: mkdtempSync(join(tmpdir(), 'codelab-cwd-b-')) });
      expect(here.dataDir).toBe(join(root, '.codelab'));
      expect(there.dataDir).toBe(here.dataDir);
      expect(here.jwt.secretFile).toBe(join(root, '.codelab', 'jwt-secret'));
      expect(there.jwt.secretFile).toBe(here.jwt.secretFile);
      expect(here.workspace.dir).toBe(join(root, '.codelab', 'workspaces'));
      expect(there.workspace.dir).toBe(here.workspace.dir);
    });

    it('generates the development secret at the same absolute path whatever the working directory', () => {
      const root = mkdtempSync(join(tmpdir(), 'codelab-root-'));
      const generated: string[] = [];
      const onGeneratedSecret = (p: string) => generated.push(p);
      const a = loadConfig(
        {},
        { cwd: mkdtempSync(join(tmpdir(), 'codelab-cwd-a-')), appRoot: root, onGeneratedSecret },
      );
      const b = loadConfig(
        {},
        { cwd: mkdtempSync(join(tmpdir(), 'codelab-cwd-b-')), appRoot: root, onGeneratedSecret },
      );
      expect(generated).toEqual([join(root, '.codelab', 'jwt-secret')]);
      expect(b.jwt.secret).toBe(a.jwt.secret);
    });

    it('resolves a relative JWT_SECRET_FILE and WORKSPACES_DIR under DATA_DIR, absolute ones as given', () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'codelab-data-'));
      const generated: string[] = [];
      const config = loadConfig(
        { DATA_DIR: dataDir, JWT_SECRET_FILE: 'secrets/dev-jwt', WORKSPACES_DIR: 'ws' },
        { cwd, appRoot, onGeneratedSecret: (p) => generated.push(p) },
      );
      expect(config.dataDir).toBe(dataDir);
      expect(generated).toEqual([join(dataDir, 'secrets', 'dev-jwt')]);
      expect(readFileSync(join(dataDir, 'secrets', 'dev-jwt'), 'utf8').trim()).toBe(
        config.jwt.secret,
      );
      expect(config.workspace.dir).toBe(join(dataDir, 'ws'));

      const elsewhere = mkdtempSync(join(tmpdir(), 'codelab-elsewhere-'));
      const absolute = loadConfig(
        {
          ...secret,
          DATA_DIR: dataDir,
          JWT_SECRET_FILE: join(elsewhere, 'jwt'),
          WORKSPACES_DIR: join(elsewhere, 'ws'),
        },
        { cwd, appRoot },
      );
      expect(absolute.jwt.secretFile).toBe(join(elsewhere, 'jwt'));
      expect(absolute.workspace.dir).toBe(join(elsewhere, 'ws'));
    });

    it('takes a relative DATA_DIR relative to the working directory', () => {
      const config = loadConfig({ ...secret, DATA_DIR: 'var/codelab' }, { cwd, appRoot });
      expect(isAbsolute(config.dataDir)).toBe(true);
      expect(config.dataDir).toBe(join(cwd, 'var', 'codelab'));
      expect(config.workspace.dir).toBe(join(cwd, 'var', 'codelab', 'workspaces'));
    });
  });

  it('lists one line per bad variable', () => {
    let error: unknown;
    try {
      loadConfig(
        { PORT: 'abc', APP_ROLE: 'both', DATABASE_URL: 'mysql://x', DB_MIGRATE_ON_START: 'maybe' },
        { cwd, appRoot },
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
    expect(() => loadConfig({ NODE_ENV: 'production' }, { cwd, appRoot })).toThrow(
      /JWT_SECRET: required/,
    );
    expect(() =>
      loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'short' }, { cwd, appRoot }),
    ).toThrow(/at least 32 bytes/);
    const ok = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }, { cwd, appRoot });
    expect(ok.jwt.secret).toBe('x'.repeat(32));
  });

  it('refuses the test-only tools in production', () => {
    expect(() =>
      loadConfig(
        { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), TEST_TOOLS: 'true' },
        { cwd, appRoot },
      ),
    ).toThrow(/TEST_TOOLS: test-only tools cannot be enabled/);
  });

  describe('placeholder JWT secrets', () => {
    const production = (secret: string) =>
      loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }, { cwd, appRoot });

    it('refuses in production every JWT secret our samples ship', () => {
      const compose = /JWT_SECRET: \$\{JWT_SECRET:-(.+)\}/.exec(repoFile('docker-compose.yml'));
      const k8s = /^\s+JWT_SECRET: (\S+)$/m.exec(repoFile('deploy', 'k8s', 'secret.yaml'));
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
          { cwd, appRoot },
        );
        expect(config.jwt.secret).toBe(SHIPPED_JWT_SECRETS[0]);
      }
    });
  });

  describe('HTTP server limits and the metrics port', () => {
    it('defaults: 20 s for headers, 30 s per request, 65 s keep-alive, 16 KiB of headers, metrics on 9464', () => {
      const config = loadConfig({}, { cwd, appRoot });
      expect(config.http).toMatchObject({
        headersTimeoutMs: 20_000,
        requestTimeoutMs: 30_000,
        keepAliveTimeoutMs: 65_000,
        maxHeaderBytes: 16_384,
      });
      expect(config.metricsPort).toBe(9464);
      expect(loadConfig({ METRICS_PORT: '0' }, { cwd, appRoot }).metricsPort).toBe(0);
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
          { cwd, appRoot },
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
      expect(() => loadConfig({ METRICS_PORT: '70000' }, { cwd, appRoot })).toThrow(/METRICS_PORT/);
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
