import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export type AppRole = 'all' | 'api' | 'worker';
export type NodeEnv = 'development' | 'production' | 'test';

/** Everything the process reads from its environment, parsed and validated once at boot. */
export interface AppConfig {
  nodeEnv: NodeEnv;
  role: AppRole;
  port: number;
  workerPort: number;
  /** Port of the API process's Prometheus endpoint (`/metrics`); 0 = not served. */
  metricsPort: number;
  logLevel: string;
  /**
   * Absolute directory of the process's local data (the development JWT secret, workspaces);
   * relative JWT_SECRET_FILE and WORKSPACES_DIR resolve against it.
   */
  dataDir: string;
  databaseUrl: string;
  dbMigrateOnStart: boolean;
  dbPoolMax: number;
  redisUrl: string;
  redisKeyPrefix: string;
  jwt: {
    secret: string;
    /** Where a development secret is kept when JWT_SECRET is not set (absolute). */
    secretFile: string;
    issuer: string;
    audience: string;
    accessTtlSeconds: number;
    refreshTtlSeconds: number;
    clockToleranceSeconds: number;
  };
  rateLimit: {
    windowSeconds: number;
    perWindow: number;
    authPerWindow: number;
  };
  http: {
    bodyLimitBytes: number;
    trustProxy: boolean;
    corsOrigins: string[];
    /** Time a client has to send the request line and headers (slowloris bound). */
    headersTimeoutMs: number;
    /** Time a client has to send the whole request (headers and body); responses are not bound. */
    requestTimeoutMs: number;
    /** How long an idle keep-alive connection stays open. */
    keepAliveTimeoutMs: number;
    /** Request line plus headers, at most (larger: 431). */
    maxHeaderBytes: number;
  };
  shutdown: {
    readinessDelayMs: number;
    graceMs: number;
  };
  workerConcurrency: number;
  relayIntervalMs: number;
  runStaleAfterMs: number;
  runLeaseTtlMs: number;
  runJobLockMs: number;
  runMaxStalls: number;
  runParkedTtlSeconds: number;
  domainEventsRetentionDays: number;
  workerLivenessTtlMs: number;
  idempotencyTtlHours: number;
  handoffs: {
    /** Agent switches one user message may cause; past it the switching run fails. */
    maxSwitchesPerMessage: number;
    /** How deep delegations nest (a child of a child ...). */
    maxDelegationDepth: number;
    /** `delegate` calls one model turn may make. */
    maxDelegationFanout: number;
  };
  /** Test-only tools (test_read, test_write, test_park, test_fail); never in production. */
  testTools: { enabled: boolean; dir: string };
  workspace: {
    /** One directory per project below this one (created on start). */
    dir: string;
    maxFileBytes: number;
    maxTotalBytes: number;
    maxFiles: number;
    /** What a tool sends back to the model at most; the step keeps the whole result. */
    toolOutputBytes: number;
    commandTimeoutMs: number;
  };
  streaming: {
    maxLength: number;
    ttlMs: number;
    heartbeatMs: number;
    retryMs: number;
    clientBufferBytes: number;
  };
  llm: {
    provider: 'offline' | 'openai';
    openaiApiKey: string;
    openaiBaseUrl: string | undefined;
    defaultModel: string;
    timeoutMs: number;
    maxAttempts: number;
    retryBaseDelayMs: number;
    retryMaxDelayMs: number;
    breakerVolumeThreshold: number;
    breakerErrorPercent: number;
    breakerResetMs: number;
    offlineTokenDelayMs: number;
  };
  memory: {
    embeddingsProvider: 'local' | 'openai';
    embeddingsModel: string;
    localEmbeddingDimensions: number;
    qdrantUrl: string | undefined;
    qdrantApiKey: string | undefined;
    qdrantCollection: string;
  };
}

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

type Env = Record<string, string | undefined>;

/** Every variable, its default and its meaning; `.env.example` and the README mirror this list. */
export const ENV_DEFAULTS = {
  NODE_ENV: 'development',
  APP_ROLE: 'all',
  PORT: '3000',
  WORKER_PORT: '3001',
  METRICS_PORT: '9464',
  LOG_LEVEL: 'info',
  // Empty: `.codelab` in the app's root directory (see appRootDir), whatever the working directory.
  DATA_DIR: '',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/codelab',
  DB_MIGRATE_ON_START: 'true',
  DB_POOL_MAX: '10',
  REDIS_URL: 'redis://127.0.0.1:6379',
  REDIS_KEY_PREFIX: 'codelab:',
  JWT_SECRET: '',
  JWT_SECRET_FILE: 'jwt-secret',
  JWT_ISSUER: 'codelab',
  JWT_AUDIENCE: 'codelab-api',
  JWT_ACCESS_TTL_SECONDS: '900',
  JWT_REFRESH_TTL_SECONDS: '2592000',
  JWT_CLOCK_TOLERANCE_SECONDS: '5',
  RATE_LIMIT_WINDOW_SECONDS: '60',
  RATE_LIMIT_PER_WINDOW: '300',
  RATE_LIMIT_AUTH_PER_WINDOW: '10',
  HTTP_BODY_LIMIT_BYTES: '1048576',
  TRUST_PROXY: 'false',
  CORS_ORIGINS: '',
  HTTP_HEADERS_TIMEOUT_MS: '20000',
  HTTP_REQUEST_TIMEOUT_MS: '30000',
  HTTP_KEEP_ALIVE_TIMEOUT_MS: '65000',
  HTTP_MAX_HEADER_BYTES: '16384',
  SHUTDOWN_READINESS_DELAY_MS: '0',
  SHUTDOWN_GRACE_MS: '25000',
  WORKER_CONCURRENCY: '8',
  RUN_RELAY_INTERVAL_MS: '2000',
  RUN_STALE_AFTER_MS: '30000',
  RUN_LEASE_TTL_MS: '30000',
  RUN_JOB_LOCK_MS: '5000',
  RUN_MAX_STALLS: '10',
  RUN_PARKED_TTL_SECONDS: '3600',
  DOMAIN_EVENTS_RETENTION_DAYS: '7',
  WORKER_LIVENESS_TTL_MS: '2000',
  IDEMPOTENCY_TTL_HOURS: '24',
  MAX_SWITCHES_PER_MESSAGE: '5',
  DELEGATION_MAX_DEPTH: '3',
  DELEGATION_MAX_FANOUT: '4',
  TEST_TOOLS: 'false',
  TEST_TOOLS_DIR: '',
  WORKSPACES_DIR: 'workspaces',
  WORKSPACE_MAX_FILE_BYTES: '1048576',
  WORKSPACE_MAX_TOTAL_BYTES: '104857600',
  WORKSPACE_MAX_FILES: '10000',
  TOOL_OUTPUT_MAX_BYTES: '32768',
  COMMAND_TIMEOUT_MS: '60000',
  STREAM_MAX_LENGTH: '1000',
  STREAM_TTL_MS: '600000',
  SSE_HEARTBEAT_MS: '15000',
  SSE_RETRY_MS: '3000',
  SSE_CLIENT_BUFFER_BYTES: '1048576',
  LLM_PROVIDER: '',
  OPENAI_API_KEY: '',
  OPENAI_BASE_URL: '',
  LLM_DEFAULT_MODEL: '',
  LLM_TIMEOUT_MS: '60000',
  LLM_MAX_ATTEMPTS: '3',
  LLM_RETRY_BASE_DELAY_MS: '500',
  LLM_RETRY_MAX_DELAY_MS: '8000',
  LLM_BREAKER_VOLUME_THRESHOLD: '5',
  LLM_BREAKER_ERROR_PERCENT: '50',
  LLM_BREAKER_RESET_MS: '30000',
  OFFLINE_LLM_TOKEN_DELAY_MS: '0',
  EMBEDDINGS_PROVIDER: '',
  EMBEDDINGS_MODEL: 'text-embedding-3-small',
  LOCAL_EMBEDDING_DIMENSIONS: '384',
  QDRANT_URL: '',
  QDRANT_API_KEY: '',
  QDRANT_COLLECTION: 'codelab_memories',
} as const;

class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: keyof typeof ENV_DEFAULTS): string {
    const value = this.env[name];
    return value === undefined || value === '' ? ENV_DEFAULTS[name] : value;
  }

  oneOf<T extends string>(name: keyof typeof ENV_DEFAULTS, allowed: readonly T[]): T {
    const value = this.raw(name);
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${name}: must be one of ${allowed.join('|')}, got "${value}"`);
      return allowed[0];
    }
    return value as T;
  }

  int(name: keyof typeof ENV_DEFAULTS, min: number, max: number): number {
    const value = this.raw(name);
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value) || parsed < min || parsed > max) {
      this.problems.push(`${name}: must be an integer between ${min} and ${max}, got "${value}"`);
      return Number(ENV_DEFAULTS[name]);
    }
    return parsed;
  }

  bool(name: keyof typeof ENV_DEFAULTS): boolean {
    const value = this.raw(name).toLowerCase();
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    this.problems.push(`${name}: must be true or false, got "${value}"`);
    return false;
  }

  optionalUrl(name: keyof typeof ENV_DEFAULTS, protocols: string[]): string | undefined {
    return this.raw(name) ? this.url(name, protocols) : undefined;
  }

  url(name: keyof typeof ENV_DEFAULTS, protocols: string[]): string {
    const value = this.raw(name);
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(
          `${name}: protocol must be ${protocols.join(' or ')}, got "${parsed.protocol}"`,
        );
      }
    } catch {
      this.problems.push(`${name}: not a valid URL`);
    }
    return value;
  }
}

export interface LoadConfigOptions {
  /** Called when a development secret had to be generated; the caller decides how to warn. */
  onGeneratedSecret?: (path: string) => void;
  /** What a relative DATA_DIR is relative to (default: the working directory). */
  cwd?: string;
  /** Where the default DATA_DIR (`<appRoot>/.codelab`) lives (default: appRootDir()). */
  appRoot?: string;
}

/**
 * The app's root directory: the nearest directory above this file that holds a package.json (the
 * checkout in development, /app in the image), found from the code's location, never from the
 * working directory, so `npm start` run from anywhere uses the same data. Falls back to the
 * working directory when there is none (a bundled build).
 */
export function appRootDir(from: string = __dirname): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

/**
 * Reads and validates the environment. Throws ConfigValidationError listing one line per bad
 * variable, so a misconfigured deployment fails at boot rather than on first use.
 */
export function loadConfig(env: Env = process.env, options: LoadConfigOptions = {}): AppConfig {
  const r = new EnvReader(env);
  const nodeEnv = r.oneOf<NodeEnv>('NODE_ENV', ['development', 'production', 'test']);
  // An explicit DATA_DIR is taken as given (relative to the working directory, like any path on a
  // command line); the default is absolute. Relative file settings below resolve against it.
  const dataDir = resolve(
    options.cwd ?? process.cwd(),
    r.raw('DATA_DIR') || join(options.appRoot ?? appRootDir(), '.codelab'),
  );
  const config: AppConfig = {
    nodeEnv,
    role: r.oneOf<AppRole>('APP_ROLE', ['all', 'api', 'worker']),
    port: r.int('PORT', 0, 65535),
    workerPort: r.int('WORKER_PORT', 0, 65535),
    metricsPort: r.int('METRICS_PORT', 0, 65535),
    logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    dataDir,
    databaseUrl: r.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    dbMigrateOnStart: r.bool('DB_MIGRATE_ON_START'),
    dbPoolMax: r.int('DB_POOL_MAX', 1, 200),
    redisUrl: r.url('REDIS_URL', ['redis:', 'rediss:']),
    redisKeyPrefix: r.raw('REDIS_KEY_PREFIX'),
    jwt: {
      secret: '',
      secretFile: resolve(dataDir, r.raw('JWT_SECRET_FILE')),
      issuer: r.raw('JWT_ISSUER'),
      audience: r.raw('JWT_AUDIENCE'),
      accessTtlSeconds: r.int('JWT_ACCESS_TTL_SECONDS', 30, 86_400),
      refreshTtlSeconds: r.int('JWT_REFRESH_TTL_SECONDS', 60, 31_536_000),
      clockToleranceSeconds: r.int('JWT_CLOCK_TOLERANCE_SECONDS', 0, 300),
    },
    rateLimit: {
      windowSeconds: r.int('RATE_LIMIT_WINDOW_SECONDS', 1, 86_400),
      perWindow: r.int('RATE_LIMIT_PER_WINDOW', 1, 1_000_000),
      authPerWindow: r.int('RATE_LIMIT_AUTH_PER_WINDOW', 1, 1_000_000),
    },
    http: {
      bodyLimitBytes: r.int('HTTP_BODY_LIMIT_BYTES', 1024, 64 * 1024 * 1024),
      trustProxy: r.bool('TRUST_PROXY'),
      corsOrigins: r
        .raw('CORS_ORIGINS')
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
      headersTimeoutMs: r.int('HTTP_HEADERS_TIMEOUT_MS', 1_000, 600_000),
      requestTimeoutMs: r.int('HTTP_REQUEST_TIMEOUT_MS', 1_000, 3_600_000),
      keepAliveTimeoutMs: r.int('HTTP_KEEP_ALIVE_TIMEOUT_MS', 1_000, 600_000),
      maxHeaderBytes: r.int('HTTP_MAX_HEADER_BYTES', 1_024, 1024 * 1024),
    },
    shutdown: {
      readinessDelayMs: r.int('SHUTDOWN_READINESS_DELAY_MS', 0, 120_000),
      graceMs: r.int('SHUTDOWN_GRACE_MS', 1_000, 600_000),
    },
    workerConcurrency: r.int('WORKER_CONCURRENCY', 1, 512),
    relayIntervalMs: r.int('RUN_RELAY_INTERVAL_MS', 100, 600_000),
    runStaleAfterMs: r.int('RUN_STALE_AFTER_MS', 1_000, 3_600_000),
    runLeaseTtlMs: r.int('RUN_LEASE_TTL_MS', 1_000, 600_000),
    runJobLockMs: r.int('RUN_JOB_LOCK_MS', 1_000, 600_000),
    runMaxStalls: r.int('RUN_MAX_STALLS', 1, 1_000),
    runParkedTtlSeconds: r.int('RUN_PARKED_TTL_SECONDS', 10, 30 * 24 * 3_600),
    domainEventsRetentionDays: r.int('DOMAIN_EVENTS_RETENTION_DAYS', 1, 3_650),
    workerLivenessTtlMs: r.int('WORKER_LIVENESS_TTL_MS', 500, 60_000),
    idempotencyTtlHours: r.int('IDEMPOTENCY_TTL_HOURS', 1, 24 * 365),
    handoffs: {
      maxSwitchesPerMessage: r.int('MAX_SWITCHES_PER_MESSAGE', 0, 100),
      maxDelegationDepth: r.int('DELEGATION_MAX_DEPTH', 0, 10),
      maxDelegationFanout: r.int('DELEGATION_MAX_FANOUT', 1, 32),
    },
    testTools: {
      enabled: r.bool('TEST_TOOLS'),
      dir: r.raw('TEST_TOOLS_DIR') || join(tmpdir(), 'codelab-test-tools'),
    },
    workspace: {
      dir: resolve(dataDir, r.raw('WORKSPACES_DIR')),
      maxFileBytes: r.int('WORKSPACE_MAX_FILE_BYTES', 1, 1024 * 1024 * 1024),
      maxTotalBytes: r.int('WORKSPACE_MAX_TOTAL_BYTES', 1, 1024 ** 4),
      maxFiles: r.int('WORKSPACE_MAX_FILES', 1, 10_000_000),
      toolOutputBytes: r.int('TOOL_OUTPUT_MAX_BYTES', 1_024, 16 * 1024 * 1024),
      commandTimeoutMs: r.int('COMMAND_TIMEOUT_MS', 100, 3_600_000),
    },
    streaming: {
      maxLength: r.int('STREAM_MAX_LENGTH', 1, 1_000_000),
      ttlMs: r.int('STREAM_TTL_MS', 1_000, 7 * 24 * 3_600_000),
      heartbeatMs: r.int('SSE_HEARTBEAT_MS', 100, 600_000),
      retryMs: r.int('SSE_RETRY_MS', 100, 600_000),
      clientBufferBytes: r.int('SSE_CLIENT_BUFFER_BYTES', 1_024, 256 * 1024 * 1024),
    },
    llm: {
      provider: 'offline',
      openaiApiKey: r.raw('OPENAI_API_KEY'),
      openaiBaseUrl: r.optionalUrl('OPENAI_BASE_URL', ['http:', 'https:']),
      defaultModel: '',
      timeoutMs: r.int('LLM_TIMEOUT_MS', 100, 600_000),
      maxAttempts: r.int('LLM_MAX_ATTEMPTS', 1, 10),
      retryBaseDelayMs: r.int('LLM_RETRY_BASE_DELAY_MS', 0, 60_000),
      retryMaxDelayMs: r.int('LLM_RETRY_MAX_DELAY_MS', 0, 300_000),
      breakerVolumeThreshold: r.int('LLM_BREAKER_VOLUME_THRESHOLD', 1, 1_000),
      breakerErrorPercent: r.int('LLM_BREAKER_ERROR_PERCENT', 1, 100),
      breakerResetMs: r.int('LLM_BREAKER_RESET_MS', 100, 3_600_000),
      offlineTokenDelayMs: r.int('OFFLINE_LLM_TOKEN_DELAY_MS', 0, 10_000),
    },
    memory: {
      embeddingsProvider: 'local',
      embeddingsModel: r.raw('EMBEDDINGS_MODEL'),
      localEmbeddingDimensions: r.int('LOCAL_EMBEDDING_DIMENSIONS', 16, 4096),
      qdrantUrl: r.optionalUrl('QDRANT_URL', ['http:', 'https:']),
      qdrantApiKey: r.raw('QDRANT_API_KEY') || undefined,
      qdrantCollection: r.raw('QDRANT_COLLECTION'),
    },
  };
  // With no key the product runs on the built-in offline model and local embeddings.
  const hasKey = config.llm.openaiApiKey !== '';
  config.llm.provider = r.raw('LLM_PROVIDER')
    ? r.oneOf('LLM_PROVIDER', ['offline', 'openai'])
    : hasKey
      ? 'openai'
      : 'offline';
  if (config.llm.provider === 'openai' && !hasKey && !config.llm.openaiBaseUrl) {
    r.problems.push(
      'OPENAI_API_KEY: required when LLM_PROVIDER=openai (or set OPENAI_BASE_URL for a keyless local endpoint)',
    );
  }
  config.llm.defaultModel =
    r.raw('LLM_DEFAULT_MODEL') || (config.llm.provider === 'openai' ? 'gpt-4o-mini' : 'offline');
  config.memory.embeddingsProvider = r.raw('EMBEDDINGS_PROVIDER')
    ? r.oneOf('EMBEDDINGS_PROVIDER', ['local', 'openai'])
    : hasKey
      ? 'openai'
      : 'local';
  if (config.http.headersTimeoutMs > config.http.requestTimeoutMs) {
    r.problems.push(
      `HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS (${config.http.requestTimeoutMs})`,
    );
  }
  if (config.metricsPort !== 0 && config.metricsPort === config.port) {
    r.problems.push(`METRICS_PORT: must differ from PORT (${config.port}); 0 turns it off`);
  }
  if (config.testTools.enabled && nodeEnv === 'production')
    r.problems.push('TEST_TOOLS: test-only tools cannot be enabled when NODE_ENV=production');
  config.jwt.secret = resolveJwtSecret(r, nodeEnv, config.jwt.secretFile, options);
  if (r.problems.length > 0) throw new ConfigValidationError(r.problems);
  return config;
}

/**
 * The JWT secrets our own samples ship (docker-compose.yml's fallback, the Secret in
 * deploy/k8s/secret.yaml): anyone can read them, so anyone could sign tokens with them.
 */
export const SHIPPED_JWT_SECRETS: readonly string[] = [
  'change-me-to-a-32-byte-random-secret!!',
  'replace-me-with-at-least-32-random-bytes',
];
const PLACEHOLDER_MARKERS = /change-?me|replace-?me|example|placeholder/i;

/** True for a sample or placeholder secret, which production refuses. */
export function isPlaceholderSecret(secret: string): boolean {
  return SHIPPED_JWT_SECRETS.includes(secret.trim()) || PLACEHOLDER_MARKERS.test(secret);
}

function resolveJwtSecret(
  r: EnvReader,
  nodeEnv: NodeEnv,
  file: string,
  options: LoadConfigOptions,
): string {
  const explicit = r.raw('JWT_SECRET');
  if (explicit) {
    if (Buffer.byteLength(explicit) < 32) {
      r.problems.push('JWT_SECRET: must be at least 32 bytes');
    }
    if (nodeEnv === 'production' && isPlaceholderSecret(explicit)) {
      r.problems.push(
        'JWT_SECRET: is a sample or placeholder value (it is public); set a random one, e.g. `openssl rand -base64 48`',
      );
    }
    return explicit;
  }
  if (nodeEnv === 'production') {
    r.problems.push('JWT_SECRET: required when NODE_ENV=production (at least 32 bytes)');
    return '';
  }
  // Development convenience: one random secret per checkout (in DATA_DIR, kept out of git), so
  // tokens survive restarts without anyone committing a shared default.
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (Buffer.byteLength(stored) >= 32) return stored;
  }
  const generated = randomBytes(48).toString('base64url');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, generated + '\n', { mode: 0o600 });
  options.onGeneratedSecret?.(file);
  return generated;
}
