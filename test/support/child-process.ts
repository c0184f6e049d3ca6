import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const MAIN_JS = join(__dirname, '..', '..', 'dist', 'apps', 'api', 'src', 'main.js');

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface AppProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** Bytes the process wrote to stdout + stderr so far. */
  bytes: () => number;
  /** Bytes written in [fromMs, toMs) (epoch ms), at one-second resolution. */
  bytesBetween: (fromMs: number, toMs: number) => number;
}

export interface AppProcessOptions {
  /**
   * Own process group (`detached`), so `signalGroup` reaches exactly this process and whatever it
   * started. The caller must kill it: it does not die with the test process.
   */
  detached?: boolean;
  /** Keep only the last N characters of output (default: all of it). */
  maxOutputChars?: number;
  /** Sees every chunk of stdout/stderr as it arrives. */
  onData?: (chunk: string) => void;
}

/** Starts the built app (`npm test` builds first) as a real process, the way `npm start` does. */
export function startAppProcess(
  env: Record<string, string>,
  cwd: string,
  options: AppProcessOptions = {},
): AppProcess {
  const child = spawn(process.execPath, [MAIN_JS], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let out = '';
  let total = 0;
  // Cumulative byte count at the end of each wall-clock second that saw output.
  const perSecond = new Map<number, number>();
  const max = options.maxOutputChars;
  const onData = (d: Buffer) => {
    total += d.length;
    const second = Math.floor(Date.now() / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + d.length);
    const text = d.toString();
    options.onData?.(text);
    out += text;
    if (max !== undefined && out.length > 2 * max) out = out.slice(-max);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const bytesBetween = (fromMs: number, toMs: number) => {
    let sum = 0;
    for (const [second, n] of perSecond)
      if (second * 1000 >= Math.floor(fromMs / 1000) * 1000 && second * 1000 < toMs) sum += n;
    return sum;
  };
  return {
    child,
    output: () => (max !== undefined && out.length > max ? out.slice(-max) : out),
    exited,
    bytes: () => total,
    bytesBetween,
  };
}

/**
 * Sends `signal` to the process group of a child started with `detached: true` (falls back to
 * the process itself). Only ever targets a pid this test started.
 */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** SIGKILLs the process group and waits for the exit (a stopped process dies too). */
export async function killGroup(app: AppProcess, timeoutMs = 10_000): Promise<void> {
  if (app.child.exitCode !== null || app.child.signalCode !== null) return;
  signalGroup(app.child, 'SIGKILL');
  await withDeadline(`pid ${app.child.pid} to exit`, app.exited, timeoutMs);
}

/** Polls until `check` returns true or the deadline passes (then throws with `what`). */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function withDeadline<T>(
  what: string,
  promise: Promise<T>,
  timeoutMs: number,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function httpStatus(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.status;
}

export interface ProbeResult {
  status: number | null;
  ms: number;
  error?: string;
}

/** One GET with a hard timeout; never throws (a timeout or refused connection is status null). */
export async function probe(url: string, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - started };
  } catch (error) {
    return {
      status: null,
      ms: performance.now() - started,
      error: (error as Error).name === 'TimeoutError' ? 'timeout' : (error as Error).message,
    };
  }
}
