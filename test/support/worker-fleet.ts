import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AppProcess,
  freePort,
  httpStatus,
  killGroup,
  signalGroup,
  startAppProcess,
  waitFor,
} from './child-process';

/** One worker process of a fleet. A slot keeps its index across kills and restarts. */
export interface FleetWorker {
  slot: number;
  app: AppProcess;
  port: number;
  pid: number;
  cwd: string;
  startedAt: number;
  /** Log lines by message (ids and numbers masked), for a summary of what the worker said. */
  messages: Map<string, number>;
}

export interface WorkerFleetOptions {
  /** Environment of every worker (DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX, JWT_SECRET, ...). */
  env: Record<string, string>;
  /** How long a new worker may take to answer /ready 200. */
  readyTimeoutMs?: number;
  /** Output kept per process (the byte counters see everything). */
  maxOutputChars?: number;
  /**
   * A worker whose resident memory passes this is SIGKILLed (and recorded in `memoryKills`), so a
   * runaway worker cannot take the shared machine down. Default FAULT_WORKER_RSS_CAP_MB or 4096.
   */
  rssCapMb?: number;
}

const MASK = [
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>'],
  [/\d+/g, 'N'],
] as const;

function maskMessage(line: string): string | undefined {
  if (!line.trim()) return undefined;
  let msg = line;
  try {
    const parsed = JSON.parse(line) as { msg?: unknown; err?: { message?: unknown } };
    msg =
      typeof parsed.msg === 'string'
        ? parsed.msg
        : typeof parsed.err?.message === 'string'
          ? parsed.err.message
          : line;
  } catch {
    // not JSON: a raw line (stack trace, uncaught error)
  }
  for (const [re, to] of MASK) msg = msg.replace(re, to);
  return msg.slice(0, 200);
}

/**
 * Worker processes (`APP_ROLE=worker`) of the built app, each in its own process group so a test
 * can SIGKILL / SIGSTOP exactly the process it started. Everything a worker writes is counted in
 * bytes over time, and summarised by log message.
 */
export class WorkerFleet {
  /** Current process of each slot. */
  readonly slots: FleetWorker[] = [];
  /** Every process this fleet ever started (for cleanup and log accounting). */
  readonly started: FleetWorker[] = [];

  /** Workers the memory watchdog killed. */
  readonly memoryKills: { slot: number; pid: number; at: number; rssMb: number }[] = [];
  private readonly watchdog: NodeJS.Timeout;

  constructor(private readonly options: WorkerFleetOptions) {
    const cap = options.rssCapMb ?? Number(process.env.FAULT_WORKER_RSS_CAP_MB ?? 4096);
    this.watchdog = setInterval(() => {
      for (const w of this.slots) {
        if (!w || !this.alive(w.slot)) continue;
        const rss = this.rssMb(w.slot);
        if (rss !== undefined && rss > cap) {
          this.memoryKills.push({ slot: w.slot, pid: w.pid, at: Date.now(), rssMb: rss });
          signalGroup(w.app.child, 'SIGKILL');
        }
      }
    }, 1_000);
    this.watchdog.unref();
  }

  /** Extra worker env from FAULT_WORKER_ENV (JSON), applied last: e.g. '{"RUN_LEASE_TTL_MS":""}'. */
  private env(port: number, own: Record<string, string> = {}): Record<string, string> {
    const extra = process.env.FAULT_WORKER_ENV
      ? (JSON.parse(process.env.FAULT_WORKER_ENV) as Record<string, string>)
      : {};
    return {
      APP_ROLE: 'worker',
      NODE_ENV: 'test',
      DB_MIGRATE_ON_START: 'false',
      LOG_LEVEL: 'info',
      ...this.options.env,
      ...extra,
      ...own,
      WORKER_PORT: String(port),
    };
  }

  get size(): number {
    return this.slots.length;
  }

  /** Starts `n` workers at once and waits until each answers /ready 200. */
  async start(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, (_, i) => this.spawn(this.slots.length + i)));
  }

  /**
   * Starts a process in `slot` (replacing the slot's entry); waits for /ready unless told not to.
   * `env` is this process's own on top of the fleet's (e.g. a crash point).
   */
  async spawn(
    slot: number,
    waitReady = true,
    env: Record<string, string> = {},
  ): Promise<FleetWorker> {
    const port = await freePort();
    const cwd = mkdtempSync(join(tmpdir(), 'codelab-worker-'));
    const messages = new Map<string, number>();
    let partial = '';
    const app = startAppProcess(this.env(port, env), cwd, {
      detached: true,
      maxOutputChars: this.options.maxOutputChars ?? 256 * 1024,
      onData: (chunk) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const key = maskMessage(line);
          if (key === undefined) continue;
          if (messages.has(key) || messages.size < 300)
            messages.set(key, (messages.get(key) ?? 0) + 1);
        }
      },
    });
    const worker: FleetWorker = {
      slot,
      app,
      port,
      pid: app.child.pid ?? -1,
      cwd,
      startedAt: Date.now(),
      messages,
    };
    this.slots[slot] = worker;
    this.started.push(worker);
    if (waitReady) await this.waitReady(slot);
    return worker;
  }

  async waitReady(slot: number): Promise<void> {
    const worker = this.slots[slot];
    await waitFor(
      `worker ${slot} (pid ${worker.pid}) to answer /ready 200`,
      async () => {
        if (!this.alive(slot))
          throw new Error(`worker ${slot} exited:\n${worker.app.output().slice(-4000)}`);
        return (await httpStatus(`${this.url(slot)}/ready`)) === 200;
      },
      this.options.readyTimeoutMs ?? 60_000,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}\n--- worker output ---\n${worker.app.output().slice(-4000)}`,
      );
    });
  }

  url(slot: number): string {
    return `http://127.0.0.1:${this.slots[slot].port}`;
  }

  alive(slot: number): boolean {
    const child = this.slots[slot]?.app.child;
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  /** The slot whose current process wrote `runs.worker_id` (`host:pid:random`). */
  slotOfWorkerId(workerId: string | null | undefined): number | undefined {
    const pid = pidOfWorkerId(workerId);
    return this.slots.find((w) => pid !== undefined && w?.pid === pid)?.slot;
  }

  /** Any process this fleet started with that `runs.worker_id`, current or not. */
  byWorkerId(workerId: string | null | undefined): FleetWorker | undefined {
    const pid = pidOfWorkerId(workerId);
    return this.started.find((w) => pid !== undefined && w.pid === pid);
  }

  /** kill -9 the slot's process group and wait for the exit. */
  async kill(slot: number): Promise<void> {
    await killGroup(this.slots[slot].app);
  }

  /** kill -9, then a fresh process in the same slot (new pid, new port). */
  async restart(slot: number, waitReady = true): Promise<FleetWorker> {
    await this.kill(slot);
    return this.spawn(slot, waitReady);
  }

  /** SIGSTOP: the process freezes (a long GC pause, a partition) with its connections open. */
  pause(slot: number): void {
    signalGroup(this.slots[slot].app.child, 'SIGSTOP');
  }

  resume(slot: number): void {
    signalGroup(this.slots[slot].app.child, 'SIGCONT');
  }

  /** Bytes a slot's current process wrote in [fromMs, toMs). */
  bytesBetween(slot: number, fromMs: number, toMs: number): number {
    return this.slots[slot].app.bytesBetween(fromMs, toMs);
  }

  /**
   * CPU seconds (user + system) the slot's current process has used so far, from
   * /proc/<pid>/stat (clock ticks of 1/100 s); undefined once it is gone.
   */
  cpuSeconds(slot: number): number | undefined {
    try {
      const stat = readFileSync(`/proc/${this.slots[slot].pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the command: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return undefined;
    }
  }

  /** Resident memory of the slot's current process in MB (VmRSS), undefined once it is gone. */
  rssMb(slot: number): number | undefined {
    try {
      const status = readFileSync(`/proc/${this.slots[slot].pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
      return Number.isFinite(kb) ? Math.round(kb / 1024) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The most frequent log messages of a slot's current process. */
  topMessages(slot: number, n = 8): { msg: string; count: number }[] {
    return [...this.slots[slot].messages.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([msg, count]) => ({ msg, count }));
  }

  /** SIGKILLs every process it started (SIGCONT first is not needed) and removes their dirs. */
  async destroy(): Promise<void> {
    clearInterval(this.watchdog);
    await Promise.all(this.started.map((w) => killGroup(w.app).catch(() => undefined)));
    for (const w of this.started) rmSync(w.cwd, { recursive: true, force: true });
  }
}

/** The process id in a `runs.worker_id` (`host:pid:random`). */
export function pidOfWorkerId(workerId: string | null | undefined): number | undefined {
  const pid = Number(workerId?.split(':')[1]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * The environment a worker needs to join a test app's deployment: its database, a Redis, its key
 * prefix and JWT secret, structured logs; `extra` on top.
 */
export function workerEnvFor(
  app: {
    config: {
      databaseUrl: string;
      redisKeyPrefix: string;
      jwt: { secret: string };
      workspace: { dir: string };
    };
  },
  redisUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: app.config.databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: app.config.redisKeyPrefix,
    JWT_SECRET: app.config.jwt.secret,
    WORKSPACES_DIR: app.config.workspace.dir,
    LOG_LEVEL: 'info',
    WORKER_CONCURRENCY: '8',
    TEST_TOOLS: 'true',
    ...extra,
  };
}
