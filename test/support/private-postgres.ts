import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort, waitFor } from './child-process';
import { assertTestDatabaseName } from './test-env';

const run = promisify(execFile);

/** The newest installed PostgreSQL (`/usr/lib/postgresql/<major>/bin`), or PG_BIN_DIR. */
export function postgresBinDir(): string {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((d) => existsSync(join(root, d, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!majors.length) throw new Error(`No PostgreSQL binaries under ${root}; set PG_BIN_DIR`);
  return join(root, majors[0], 'bin');
}

function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`No user "${name}" on this machine`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * A PostgreSQL cluster of the test's own (initdb in a temp dir, trust auth, a spare port, socket in
 * the temp dir), so the test can stop it — `immediate` is a crash — without touching the shared
 * server. Runs as the `postgres` user (initdb refuses root). `destroy()` stops it and removes it.
 */
export class PrivatePostgres {
  readonly bin = postgresBinDir();
  readonly dir: string;
  readonly dataDir: string;
  port = 0;
  private initialised = false;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'codelab-pg-'));
    this.dataDir = join(this.dir, 'data');
  }

  /** `postgres://postgres@127.0.0.1:<port>/<db>`; the name must contain "test". */
  url(dbName: string): string {
    assertTestDatabaseName(dbName);
    return `postgres://postgres@127.0.0.1:${this.port}/${dbName}`;
  }

  /** The maintenance database, for CREATE/DROP DATABASE. */
  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Postmaster pid while running (from postmaster.pid). */
  get pid(): number | undefined {
    const file = join(this.dataDir, 'postmaster.pid');
    if (!existsSync(file)) return undefined;
    return Number(readFileSync(file, 'utf8').split('\n')[0]) || undefined;
  }

  private asPostgres(cmd: string, args: string[], timeoutMs = 120_000) {
    const file = join(this.bin, cmd);
    if (process.getuid?.() === 0)
      return run('runuser', ['-u', 'postgres', '--', file, ...args], { timeout: timeoutMs });
    return run(file, args, { timeout: timeoutMs });
  }

  private async init(): Promise<void> {
    if (process.getuid?.() === 0) {
      const { uid, gid } = userIds('postgres');
      chownSync(this.dir, uid, gid);
    }
    chmodSync(this.dir, 0o700);
    await this.asPostgres('initdb', [
      '-D',
      this.dataDir,
      '-A',
      'trust',
      '-U',
      'postgres',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    this.initialised = true;
  }

  /** initdb on first call; then starts (or restarts, same port and data) and waits until ready. */
  async start(): Promise<this> {
    if (!this.initialised) await this.init();
    if (!this.port) this.port = await freePort();
    const options = [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      '-c listen_addresses=127.0.0.1',
      // The OS keeps the files when only PostgreSQL dies, so this loses nothing a crash would not.
      '-c fsync=off',
      '-c max_connections=200',
    ].join(' ');
    await this.asPostgres('pg_ctl', [
      '-D',
      this.dataDir,
      '-o',
      options,
      '-l',
      join(this.dir, 'log'),
      '-t',
      '120',
      '-w',
      'start',
    ]);
    await waitFor(
      `PostgreSQL on ${this.port}`,
      async () => {
        const client = new Client({
          connectionString: this.adminUrl,
          connectionTimeoutMillis: 1_000,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query('select 1');
          return true;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      60_000,
    );
    return this;
  }

  /** True while the postmaster runs (`pg_ctl status`). */
  async running(): Promise<boolean> {
    if (!this.initialised) return false;
    return this.asPostgres('pg_ctl', ['-D', this.dataDir, 'status']).then(
      () => true,
      () => false,
    );
  }

  /** `fast` = clean shutdown (sessions disconnected); `immediate` = a crash (recovery on start). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!(await this.running())) return;
    await this.asPostgres('pg_ctl', ['-D', this.dataDir, '-m', mode, '-t', '60', '-w', 'stop']);
  }

  /** The server log (crash recovery, refused connections). */
  log(): string {
    const file = join(this.dir, 'log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  /** Stops the cluster (immediate) and deletes its files. */
  async destroy(): Promise<void> {
    const pid = (await this.running()) ? this.pid : undefined;
    try {
      await this.stop('immediate');
    } catch {
      // pg_ctl could not stop it: kill the postmaster this test started, by its pid.
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
