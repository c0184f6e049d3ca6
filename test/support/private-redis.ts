import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitFor, withDeadline } from './child-process';

export interface PrivateRedisOptions {
  /**
   * Persist with an append-only file (`appendfsync everysec`) in a temp dir of its own, so a
   * kill -9 and a `start()` on the same port replay the data, like a real Redis restart.
   * Without it a restart starts empty, like a lost Redis.
   */
  aof?: boolean;
}

/**
 * A redis-server of the test's own on a spare port, so stopping it never disturbs the shared
 * Redis or other test files. Killed only through its own pid.
 */
export class PrivateRedis {
  private child?: ChildProcess;
  private exited?: Promise<unknown>;
  port = 0;
  /** Data dir (AOF only). */
  readonly dir?: string;

  constructor(private readonly options: PrivateRedisOptions = {}) {
    if (options.aof) this.dir = mkdtempSync(join(tmpdir(), 'codelab-redis-'));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Pid of the running redis-server, if any. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts (or restarts, same port and data dir) and waits until it answers PING. */
  async start(): Promise<this> {
    if (this.running) return this;
    if (!this.port) this.port = await freePort();
    const persistence = this.dir
      ? ['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', this.dir, '--save', '']
      : ['--save', '', '--appendonly', 'no'];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', ...persistence],
      { stdio: 'ignore' },
    );
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    await waitFor(
      `redis-server on ${this.port}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode})`);
        const client = new Redis(this.url, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          // While the AOF is replayed Redis answers LOADING errors: not ready yet.
          return (await client.ping()) === 'PONG';
        } finally {
          client.disconnect();
        }
      },
      30_000,
    );
    return this;
  }

  /** kill -9 (a crash) and wait until the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGKILL');
    await withDeadline('redis-server to exit', this.exited ?? Promise.resolve(), 10_000);
  }

  /** Same as kill(): existing suites call it "stop". */
  stop(): Promise<void> {
    return this.kill();
  }

  /** Kills the server and removes its data dir. */
  async destroy(): Promise<void> {
    await this.kill();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
