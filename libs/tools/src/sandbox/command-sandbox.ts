import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { access, constants, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Runs an agent's shell command in a bubblewrap sandbox: no network, an empty environment, the
 * host's programs read-only, only the workspace writable, limits on time, CPU, memory, processes,
 * file size and output.
 *
 * The process limit needs care because we run as root: the kernel never enforces RLIMIT_NPROC
 * for host uid 0, and bwrap started by root maps any --uid back to host uid 0. So bwrap waits
 * (--userns-block-fd) while we write the namespace's id maps ourselves: host root stays root
 * inside (it owns the workspace and the system files) and the sandbox user is host uid 65534.
 * setpriv switches to that user, keeping only CAP_DAC_OVERRIDE so that a root-owned workspace
 * stays writable. The capability belongs to the sandbox's user namespace: it covers files of the
 * two mapped ids only, everything else it could write is mounted read-only, and root-only procfs
 * files are masked. (access(2) still answers as for an unprivileged user.) The command's
 * processes count against RLIMIT_NPROC per namespace: one sandbox cannot starve another, and a
 * fork bomb stops at maxProcesses.
 */

export interface SandboxLimits {
  /** Wall clock; then the whole process tree is killed. */
  timeoutMs: number;
  /** RLIMIT_CPU, per process. */
  cpuSeconds: number;
  /** RLIMIT_AS, per process. */
  memoryBytes: number;
  /** RLIMIT_NPROC: processes and threads of the sandbox user in this sandbox. */
  maxProcesses: number;
  /** RLIMIT_FSIZE: the largest file a command may write. */
  maxFileBytes: number;
  /** Kept per stream (stdout, stderr); the rest is read, counted and dropped. */
  outputBytes: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  timeoutMs: 60_000,
  cpuSeconds: 30,
  memoryBytes: 512 * 1024 * 1024,
  maxProcesses: 64,
  maxFileBytes: 100 * 1024 * 1024,
  outputBytes: 64 * 1024,
};

export interface CommandResult {
  /** Null when killed at the timeout; a command killed by signal N inside exits 128+N. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** UTF-8, at most outputBytes, then a "[... output truncated: N bytes total]" line. */
  stdout: string;
  stderr: string;
  /** All bytes the command wrote, kept or not. */
  stdoutBytes: number;
  stderrBytes: number;
  durationMs: number;
}

export type SandboxStatus = { ok: true } | { ok: false; reason: string };

export class SandboxUnavailableError extends Error {
  override readonly name = 'SandboxUnavailableError';

  constructor(reason: string) {
    super(`The command sandbox is unavailable: ${reason}`);
  }
}

/** The sandbox user: an unprivileged host uid/gid (nobody/nogroup on Debian), the same inside. */
const SANDBOX_UID = 65534;
const SANDBOX_GID = 65534;
const WORKSPACE = '/workspace';
const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';
/** util-linux, run inside the sandbox from the read-only /usr. */
const SETPRIV = '/usr/bin/setpriv';
const PRLIMIT = '/usr/bin/prlimit';
/** Private tmpfs sizes: RLIMIT_AS does not cover tmpfs pages, which are host memory. */
const TMP_BYTES = 256 * 1024 * 1024;
const SHM_BYTES = 64 * 1024 * 1024;

/** Program directories. On merged-/usr hosts /bin, /lib... are symlinks into /usr and stay so. */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/**
 * The few /etc entries programs need. Never all of /etc: it holds credentials and service
 * configuration (npmrc, pip.conf, ssl keys, database and app settings).
 */
const ETC_ENTRIES = [
  '/etc/alternatives',
  '/etc/ld.so.cache',
  '/etc/localtime',
  '/etc/nsswitch.conf',
  '/etc/os-release',
  '/etc/debian_version',
];
/** Written into the sandbox instead of the host's files. */
const ETC_DATA: ReadonlyArray<readonly [path: string, content: string]> = [
  [
    '/etc/passwd',
    `root:x:0:0:root:/root:/usr/sbin/nologin\n` +
      `sandbox:x:${SANDBOX_UID}:${SANDBOX_GID}:sandbox:${WORKSPACE}:/bin/sh\n`,
  ],
  ['/etc/group', `root:x:0:\nsandbox:x:${SANDBOX_GID}:\n`],
  ['/etc/hosts', '127.0.0.1 localhost\n::1 localhost\n'],
  // git refuses repositories owned by another user; the workspace is owned by root.
  ['/etc/gitconfig', '[safe]\n\tdirectory = *\n'],
];
/** bwrap's extra descriptors: it reports the sandbox's pid on one and waits on the other. */
const INFO_FD = 3;
const USERNS_BLOCK_FD = 4;
const FIRST_DATA_FD = 5;

/** Set inside the sandbox; the self-test fails on anything else (the shell adds the last ones). */
const ALLOWED_ENV = new Set(['PATH', 'HOME', 'LANG', 'PWD', 'OLDPWD', 'SHLVL', '_']);

/**
 * Prints what the sandbox lets a command see and do; runSelfTest judges it. Arguments: the port
 * of a listener on the host's loopback, a host path that must not exist inside, a file name.
 */
const SELF_TEST_SCRIPT = `
port=$1 host_path=$2 probe=$3
echo "uid $(id -u)"
echo "path $PATH"
sed -n 's/^Max processes  *\\([0-9]*\\).*/nproc \\1/p' /proc/self/limits
sed -n 's/^ *\\([^ :|]*\\):.*/iface \\1/p' /proc/net/dev
if command -v bash >/dev/null 2>&1; then
  if bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' bash "$port" 2>/dev/null
  then echo 'tcp connected'; else echo 'tcp refused'; fi
fi
for dir in / /usr /etc /bin /dev; do
  if touch "$dir/$probe" 2>/dev/null; then echo "wrote $dir"; fi
done
if [ -e "$host_path" ]; then echo 'host path visible'; fi
if echo "$probe" > "${WORKSPACE}/$probe"; then echo 'workspace writable'; fi
env | sed 's/=.*//; s/^/env /'
exit 0
`;

export class CommandSandbox {
  private readonly bwrapPath: string;
  private readonly limits: SandboxLimits;
  private readonly systemMounts: string[];
  private readonly procMasks: string[];
  private selfTestRun?: Promise<SandboxStatus>;
  private currentStatus?: SandboxStatus;

  constructor(options: { bwrapPath?: string; limits?: Partial<SandboxLimits> } = {}) {
    this.bwrapPath = options.bwrapPath ?? '/usr/bin/bwrap';
    this.limits = withLimits(DEFAULT_SANDBOX_LIMITS, options.limits);
    this.systemMounts = systemMounts();
    this.procMasks = procMasks('/proc');
  }

  /** Runs the self-test once (memoised); afterwards `status` says whether run() may be used. */
  selfTest(): Promise<SandboxStatus> {
    this.selfTestRun ??= this.runSelfTest()
      .catch((error: unknown): SandboxStatus => ({ ok: false, reason: messageOf(error) }))
      .then((status) => (this.currentStatus = status));
    return this.selfTestRun;
  }

  get status(): SandboxStatus | undefined {
    return this.currentStatus;
  }

  /**
   * Runs `command` with /bin/sh -c inside the sandbox, cwd = the workspace (mounted at
   * /workspace). Waits for the self-test and rejects with SandboxUnavailableError unless it
   * passed: never runs unsandboxed. Background processes do not outlive the command. An abort
   * kills the process tree, then rejects with the signal's reason.
   */
  async run(
    workspaceDir: string,
    command: string,
    options: { signal?: AbortSignal; limits?: Partial<SandboxLimits> } = {},
  ): Promise<CommandResult> {
    const status = await this.selfTest();
    if (!status.ok) throw new SandboxUnavailableError(status.reason);
    options.signal?.throwIfAborted();
    const workspace = resolve(workspaceDir);
    if (!(await stat(workspace)).isDirectory()) {
      throw new Error(`The workspace is not a directory: ${workspace}`);
    }
    return this.execute(
      workspace,
      ['/bin/sh', '-c', command],
      withLimits(this.limits, options.limits),
      options.signal,
    );
  }

  private async runSelfTest(): Promise<SandboxStatus> {
    if (process.getuid?.() !== 0) {
      return { ok: false, reason: 'it must run as root (it writes the user namespace id maps)' };
    }
    for (const program of [this.bwrapPath, SETPRIV, PRLIMIT]) {
      try {
        await access(program, constants.X_OK);
      } catch {
        return { ok: false, reason: `${program} is missing or not executable` };
      }
    }
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    let workspace: string | undefined;
    try {
      await new Promise<void>((listening, failed) => {
        server.once('error', failed);
        server.listen(0, '127.0.0.1', listening);
      });
      workspace = await mkdtemp(join(tmpdir(), 'codelab-sandbox-self-test-'));
      const probe = `probe-${randomBytes(6).toString('hex')}`;
      // Handed to bwrap itself (run() gives it no environment at all): --clearenv must drop it.
      const canary = `CODELAB_SANDBOX_CANARY_${randomBytes(6).toString('hex').toUpperCase()}`;
      const { port } = server.address() as AddressInfo;
      const limits = { ...DEFAULT_SANDBOX_LIMITS, timeoutMs: 20_000 };
      const result = await this.execute(
        workspace,
        ['/bin/sh', '-c', SELF_TEST_SCRIPT, 'self-test', String(port), workspace, probe],
        limits,
        undefined,
        { [canary]: 'leaked' },
      );
      if (result.exitCode !== 0) {
        const cause = result.timedOut ? 'timed out' : `exited ${result.exitCode ?? result.signal}`;
        return { ok: false, reason: `the probe ${cause}: ${result.stderr.trim()}` };
      }
      const lines = result.stdout.split('\n');
      const values = (prefix: string) =>
        lines.filter((l) => l.startsWith(`${prefix} `)).map((l) => l.slice(prefix.length + 1));
      const failures: string[] = [];
      if (values('uid')[0] !== String(SANDBOX_UID)) failures.push(`runs as uid ${values('uid')}`);
      if (values('path')[0] !== SANDBOX_PATH) failures.push(`PATH is ${values('path')}`);
      if (values('nproc')[0] !== String(limits.maxProcesses)) failures.push('no process limit');
      const interfaces = values('iface').filter((name) => name !== 'lo');
      if (interfaces.length > 0) failures.push(`network interfaces ${interfaces.join(', ')}`);
      if (lines.includes('tcp connected') || connections > 0) {
        failures.push('a TCP listener on the host loopback is reachable');
      }
      const written = values('wrote');
      if (written.length > 0) {
        failures.push(`writes outside the workspace: ${written.join(' ')}`);
        // Where a broken sandbox let them reach the host, do not leave the probes behind.
        await Promise.all(written.map((dir) => rm(join(dir, probe), { force: true })));
      }
      if (lines.includes('host path visible')) failures.push('host paths are visible');
      const leaked = values('env').filter((name) => !ALLOWED_ENV.has(name));
      if (leaked.length > 0) failures.push(`environment variables ${leaked.join(', ')}`);
      if (!lines.includes('workspace writable')) {
        failures.push('the workspace is not writable');
      } else {
        const file = join(workspace, probe);
        const [content, owner] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
        if (content !== `${probe}\n`) failures.push('workspace writes do not reach the host');
        // Proves the command's host uid is not root, so RLIMIT_NPROC binds it.
        if (owner.uid !== SANDBOX_UID) failures.push(`files are written as host uid ${owner.uid}`);
      }
      return failures.length === 0
        ? { ok: true }
        : { ok: false, reason: `self-test failed: ${failures.join('; ')}` };
    } finally {
      server.close();
      if (workspace) await rm(workspace, { recursive: true, force: true });
    }
  }

  private execute(
    workspace: string,
    argv: string[],
    limits: SandboxLimits,
    signal: AbortSignal | undefined,
    env: NodeJS.ProcessEnv = {},
  ): Promise<CommandResult> {
    return new Promise<CommandResult>((settle, fail) => {
      const started = performance.now();
      const child = spawn(this.bwrapPath, this.bwrapArgs(workspace, limits, argv), {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', ...ETC_DATA.map(() => 'pipe' as const)],
        // Its own process group, so one kill reaches bwrap and its helpers.
        detached: true,
        // bwrap needs none: no secret of ours ever reaches it (--clearenv is a second line).
        env,
      });
      const pipe = (fd: number) => child.stdio[fd] as Socket;
      const stdout = new CappedOutput(limits.outputBytes);
      const stderr = new CappedOutput(limits.outputBytes);
      pipe(1).on('data', (chunk: Buffer) => stdout.push(chunk));
      pipe(2).on('data', (chunk: Buffer) => stderr.push(chunk));
      // bwrap may exit before reading what we send; EPIPE is then expected.
      for (let fd = INFO_FD; fd < FIRST_DATA_FD + ETC_DATA.length; fd++) {
        pipe(fd).on('error', () => undefined);
      }
      ETC_DATA.forEach(([, content], i) => pipe(FIRST_DATA_FD + i).end(content));

      let sandboxPid: number | undefined;
      let killed = false;
      let timedOut = false;
      let setupError: Error | undefined;
      let settled = false;
      const kill = () => {
        killed = true;
        // Once bwrap has exited, everything inside is dead too (and its pids may be reused).
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
        // The sandbox's pid 1: when it dies the kernel kills everything in its pid namespace.
        if (sandboxPid !== undefined) killQuietly(sandboxPid);
        // bwrap's monitor and helpers; with --die-with-parent the sandbox follows it.
        killQuietly(-child.pid);
      };

      let info = '';
      pipe(INFO_FD).setEncoding('utf8');
      pipe(INFO_FD).on('data', (chunk: string) => (info += chunk));
      pipe(INFO_FD).on('end', () => {
        const match = /"child-pid":\s*(\d+)/.exec(info);
        if (!match) return; // bwrap failed before creating the sandbox; its stderr says why
        sandboxPid = Number(match[1]);
        // Killed while bwrap was starting: the sandbox's first process waits for its id maps
        // even if bwrap is gone, so end it here.
        if (killed) return killQuietly(sandboxPid);
        mapIds(sandboxPid).then(
          () => pipe(USERNS_BLOCK_FD).end('1', () => pipe(USERNS_BLOCK_FD).destroy()),
          (error: unknown) => {
            setupError = new Error(`Could not map the sandbox user: ${messageOf(error)}`);
            kill();
          },
        );
      });

      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, limits.timeoutMs);
      signal?.addEventListener('abort', kill, { once: true });
      const done = () => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', kill);
      };
      child.once('error', (error) => {
        if (settled) return;
        done();
        kill();
        fail(error);
      });
      // 'close': bwrap has exited and every process holding its output is gone.
      child.once('close', (exitCode, exitSignal) => {
        if (settled) return;
        done();
        if (setupError) return fail(setupError);
        if (signal?.aborted && !timedOut) return fail(signal.reason);
        settle({
          exitCode,
          signal: exitSignal,
          timedOut,
          stdout: stdout.text(),
          stderr: stderr.text(),
          stdoutBytes: stdout.total,
          stderrBytes: stderr.total,
          durationMs: Math.round(performance.now() - started),
        });
      });
    });
  }

  private bwrapArgs(workspace: string, limits: SandboxLimits, argv: string[]): string[] {
    return [
      // Every namespace: no network but a private loopback, own pids, ipc, uts, cgroup; the
      // user namespace is named too, as --userns-block-fd requires.
      '--unshare-all',
      '--unshare-user',
      '--hostname',
      'sandbox',
      '--die-with-parent',
      // setsid: the command cannot reach our terminal (TIOCSTI).
      '--new-session',
      '--info-fd',
      String(INFO_FD),
      '--userns-block-fd',
      String(USERNS_BLOCK_FD),
      // What setpriv needs to switch users; it keeps only CAP_DAC_OVERRIDE for the command.
      '--cap-drop',
      'ALL',
      ...['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_DAC_OVERRIDE'].flatMap((cap) => [
        '--cap-add',
        cap,
      ]),
      '--clearenv',
      '--setenv',
      'PATH',
      SANDBOX_PATH,
      '--setenv',
      'HOME',
      WORKSPACE,
      '--setenv',
      'LANG',
      'C.UTF-8',
      // bwrap would create /etc (for the entries below) readable by root only.
      '--perms',
      '0755',
      '--dir',
      '/etc',
      ...this.systemMounts,
      ...ETC_DATA.flatMap(([path], i) => [
        '--perms',
        '0644',
        '--ro-bind-data',
        String(FIRST_DATA_FD + i),
        path,
      ]),
      // A fresh procfs of the sandbox's pid namespace, a minimal /dev, private bounded tmpfs.
      '--proc',
      '/proc',
      ...this.procMasks,
      '--dev',
      '/dev',
      '--size',
      String(SHM_BYTES),
      '--tmpfs',
      '/dev/shm',
      '--remount-ro',
      '/dev',
      '--size',
      String(TMP_BYTES),
      '--perms',
      '1777',
      '--tmpfs',
      '/tmp',
      '--bind',
      workspace,
      WORKSPACE,
      '--chdir',
      WORKSPACE,
      // The root tmpfs (holding /etc and the mount points) last, once everything is mounted.
      '--remount-ro',
      '/',
      '--',
      SETPRIV,
      `--reuid=${SANDBOX_UID}`,
      `--regid=${SANDBOX_GID}`,
      '--clear-groups',
      '--inh-caps=-all,+dac_override',
      '--ambient-caps=-all,+dac_override',
      '--bounding-set=-all,+dac_override',
      '--',
      PRLIMIT,
      `--cpu=${limits.cpuSeconds}`,
      `--as=${limits.memoryBytes}`,
      `--nproc=${limits.maxProcesses}`,
      `--fsize=${limits.maxFileBytes}`,
      '--core=0',
      '--',
      ...argv,
    ];
  }
}

/** Keeps the first `cap` bytes of a stream and counts the rest (reading on: no blocked child). */
class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  total = 0;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.kept >= this.cap) return;
    const part = chunk.subarray(0, this.cap - this.kept);
    this.chunks.push(Buffer.from(part));
    this.kept += part.length;
  }

  text(): string {
    const text = Buffer.concat(this.chunks).toString('utf8');
    return this.total > this.kept
      ? `${text}\n[... output truncated: ${this.total} bytes total]`
      : text;
  }
}

/** Read-only mounts of the host's program directories and the chosen /etc entries. */
function systemMounts(): string[] {
  return [...SYSTEM_DIRS, ...ETC_ENTRIES].flatMap((path) => {
    try {
      if (lstatSync(path).isSymbolicLink()) return ['--symlink', readlinkSync(path), path];
    } catch {
      return []; // not on this host
    }
    return ['--ro-bind-try', path, path];
  });
}

/**
 * Covers what procfs lets only root read (kernel page and slab statistics, timer and vmalloc
 * lists, kmsg): host root is mapped inside and the command holds CAP_DAC_OVERRIDE, which would
 * open them. /proc/sys checks its own permissions (and bwrap mounts it read-only).
 */
function procMasks(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (dir === '/proc' && /^(\d+|self|thread-self|sys)$/.test(entry.name)) return [];
    if (entry.isSymbolicLink()) return [];
    let mode: number;
    try {
      mode = lstatSync(path).mode;
    } catch {
      return []; // gone meanwhile
    }
    if ((mode & 0o004) === 0) {
      return entry.isDirectory()
        ? ['--tmpfs', path, '--remount-ro', path]
        : ['--ro-bind', '/dev/null', path];
    }
    return entry.isDirectory() ? procMasks(path) : [];
  });
}

/**
 * Host root stays root inside (the owner of the workspace and system files); the sandbox user
 * is the same unprivileged uid on the host, which makes RLIMIT_NPROC apply to it.
 */
async function mapIds(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/uid_map`, `0 0 1\n${SANDBOX_UID} ${SANDBOX_UID} 1\n`);
  await writeFile(`/proc/${pid}/gid_map`, `0 0 1\n${SANDBOX_GID} ${SANDBOX_GID} 1\n`);
}

function withLimits(base: SandboxLimits, overrides: Partial<SandboxLimits> = {}): SandboxLimits {
  const limits = { ...base };
  for (const [name, value] of Object.entries(overrides) as [keyof SandboxLimits, unknown][]) {
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`Sandbox limit ${name} must be a positive integer`);
    }
    limits[name] = value;
  }
  return limits;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
