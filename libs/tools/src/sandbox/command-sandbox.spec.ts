import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, watch } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandSandbox, DEFAULT_SANDBOX_LIMITS, SandboxUnavailableError } from './command-sandbox';

/**
 * Real bwrap, real processes. Every test gets its own workspace; processes are found in /proc by
 * the sandbox user (65534) and a command line unique to the test.
 */
const SANDBOX_UID = 65534;
const MARKER = '\n[... output truncated: ';

function sandboxProcesses(commandLine: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (!new RegExp(`^Uid:\\s+${SANDBOX_UID}\\s`, 'm').test(status)) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(commandLine)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** The matching processes still there at the deadline (none, once they are gone). */
async function leftovers(commandLine: string, deadlineMs = 3000): Promise<number[]> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const left = sandboxProcesses(commandLine);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const tempDir = (prefix: string) => mkdtemp(join(tmpdir(), `codelab-sandbox-spec-${prefix}-`));
const unique = () => randomBytes(6).toString('hex');

describe('CommandSandbox', () => {
  const sandbox = new CommandSandbox();
  let workspace: string;
  const cleanup: string[] = [];

  beforeAll(async () => {
    expect(sandbox.status).toBeUndefined();
    expect(await sandbox.selfTest()).toEqual({ ok: true });
  }, 30_000);

  beforeEach(async () => {
    workspace = await tempDir('workspace');
    cleanup.push(workspace);
  });

  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('passes its self-test here, and memoises it', async () => {
    expect(sandbox.status).toEqual({ ok: true });
    expect(await sandbox.selfTest()).toBe(sandbox.status);
  });

  it('is unavailable, and runs nothing, when bwrap is missing or the self-test fails', async () => {
    const missing = new CommandSandbox({ bwrapPath: '/nonexistent/bwrap' });
    expect(missing.status).toBeUndefined();
    expect(await missing.selfTest()).toEqual({
      ok: false,
      reason: expect.stringContaining('/nonexistent/bwrap'),
    });
    await expect(missing.run(workspace, 'touch ran')).rejects.toBeInstanceOf(
      SandboxUnavailableError,
    );

    // Exits 0 but proves nothing: every check fails.
    const fake = new CommandSandbox({ bwrapPath: '/usr/bin/true' });
    expect(await fake.selfTest()).toEqual({
      ok: false,
      reason: expect.stringContaining('self-test failed'),
    });
    await expect(fake.run(workspace, 'touch ran')).rejects.toThrow(SandboxUnavailableError);
    expect(existsSync(join(workspace, 'ran'))).toBe(false);
  }, 20_000);

  it('runs a command in the workspace, which the host sees', async () => {
    const result = await sandbox.run(workspace, 'echo hi > out.txt; cat out.txt; pwd');
    expect(result).toMatchObject({
      exitCode: 0,
      signal: null,
      timedOut: false,
      stdout: 'hi\n/workspace\n',
      stderr: '',
      stdoutBytes: 14,
      stderrBytes: 0,
    });
    expect(await readFile(join(workspace, 'out.txt'), 'utf8')).toBe('hi\n');
    // Written by the unprivileged sandbox user, not by root.
    expect((await stat(join(workspace, 'out.txt'))).uid).toBe(SANDBOX_UID);
  });

  it('propagates exit codes', async () => {
    expect((await sandbox.run(workspace, 'exit 3')).exitCode).toBe(3);
    expect(await sandbox.run(workspace, 'echo oops >&2; false')).toMatchObject({
      exitCode: 1,
      stderr: 'oops\n',
    });
  });

  it('runs as an unprivileged user under the resource limits', async () => {
    const result = await sandbox.run(
      workspace,
      `id -u
       grep -E "^Max (cpu time|file size|processes|address space|core file size) " /proc/self/limits
       grep ^CapEff /proc/self/status`,
      { limits: { cpuSeconds: 7, maxProcesses: 20 } },
    );
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe(String(SANDBOX_UID));
    expect(result.stdout).toMatch(/^Max cpu time\s+7\s+7\s/m);
    expect(result.stdout).toMatch(/^Max processes\s+20\s+20\s/m);
    expect(result.stdout).toMatch(
      new RegExp(`^Max file size\\s+${DEFAULT_SANDBOX_LIMITS.maxFileBytes}\\s`, 'm'),
    );
    expect(result.stdout).toMatch(
      new RegExp(`^Max address space\\s+${DEFAULT_SANDBOX_LIMITS.memoryBytes}\\s`, 'm'),
    );
    expect(result.stdout).toMatch(/^Max core file size\s+0\s/m);
    // CAP_DAC_OVERRIDE only (bit 1), and only within the sandbox's own user namespace.
    expect(result.stdout).toMatch(/^CapEff:\s+0000000000000002$/m);

    const big = await sandbox.run(workspace, 'head -c 3000 /dev/zero > big', {
      limits: { maxFileBytes: 1000 },
    });
    expect(big.exitCode).not.toBe(0);
    expect((await stat(join(workspace, 'big'))).size).toBe(1000);
  });

  it('has no network: a listener on the host loopback is unreachable', async () => {
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      // It does accept connections from the host.
      await Promise.all([
        new Promise((resolve) => server.once('connection', resolve)),
        new Promise<void>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.destroy();
            resolve();
          }).once('error', reject);
        }),
      ]);
      expect(connections).toBe(1);

      const result = await sandbox.run(
        workspace,
        `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null && echo connected || echo refused
         sed -n 's/^ *\\([^ :|]*\\):.*/\\1/p' /proc/net/dev`,
      );
      expect(result.stdout).toBe('refused\nlo\n');
      expect(connections).toBe(1);
    } finally {
      server.close();
    }
  });

  it('passes no environment through: only PATH, HOME and LANG', async () => {
    const canary = `CODELAB_SPEC_CANARY_${unique()}`;
    const saved = { ...process.env };
    Object.assign(process.env, {
      JWT_SECRET: 'spec-jwt-secret',
      OPENAI_API_KEY: 'sk-spec-key',
      [canary]: 'spec-canary-value',
    });
    try {
      const result = await sandbox.run(workspace, 'env');
      for (const leak of ['JWT_SECRET', 'OPENAI_API_KEY', 'spec-', canary]) {
        expect(result.stdout).not.toContain(leak);
      }
      const names = result.stdout
        .trim()
        .split('\n')
        .map((line) => line.slice(0, line.indexOf('=')));
      expect(names.sort()).toEqual(['HOME', 'LANG', 'PATH', 'PWD']);
      expect(result.stdout).toContain('PATH=/usr/local/bin:/usr/bin:/bin\n');
      expect(result.stdout).toContain('HOME=/workspace\n');
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it('cannot write outside the workspace', async () => {
    const outside = await tempDir('outside');
    cleanup.push(outside);
    const name = `probe-${unique()}`;
    const targets = [
      `/usr/${name}`,
      `/etc/${name}`,
      `/${name}`,
      `/dev/${name}`,
      join(outside, name),
    ];
    const result = await sandbox.run(
      workspace,
      `${targets.map((path) => `touch '${path}' 2>/dev/null && echo 'wrote ${path}'`).join('\n')}
       echo private > /tmp/${name} && echo 'tmp ok'`,
    );
    expect(result.stdout).toBe('tmp ok\n');
    for (const path of [...targets, `/tmp/${name}`]) expect(existsSync(path)).toBe(false);
  });

  it('does not follow symlinks out of the workspace: host paths do not exist inside', async () => {
    const outside = await tempDir('outside');
    cleanup.push(outside);
    const secret = join(outside, 'secret.txt');
    await writeFile(secret, 'host secret\n');
    await mkdir(join(outside, 'dir'));
    await symlink(secret, join(workspace, 'link'));
    await symlink(join(outside, 'dir'), join(workspace, 'dirlink'));

    const result = await sandbox.run(
      workspace,
      `cat link; echo pwned > link; echo pwned >> link; echo pwned > dirlink/new
       cat ${secret}; ls ${outside}`,
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('No such file or directory');
    expect(await readFile(secret, 'utf8')).toBe('host secret\n');
    expect(readdirSync(outside).sort()).toEqual(['dir', 'secret.txt']);
    expect(readdirSync(join(outside, 'dir'))).toEqual([]);
  });

  it('keeps what only root may read on the host unreadable', async () => {
    // CAP_DAC_OVERRIDE inside would open procfs files only root may read: they are masked.
    const rootOnly = ['/proc/slabinfo', '/proc/kpageflags', '/proc/timer_list'].filter((path) =>
      existsSync(path),
    );
    expect(rootOnly.length).toBeGreaterThan(0);
    const result = await sandbox.run(
      workspace,
      `for f in ${rootOnly.join(' ')} /proc/1/environ; do
         head -c 1 "$f" >/dev/null 2>&1 && echo "read $f"
       done
       echo done`,
    );
    expect(result.stdout).toBe('done\n');
  });

  it('kills the process tree at the wall-clock timeout', async () => {
    const started = performance.now();
    const result = await sandbox.run(workspace, 'sleep 1000 & sleep 1000', {
      limits: { timeoutMs: 1000 },
    });
    const elapsed = performance.now() - started;
    expect(result).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL' });
    expect(elapsed).toBeLessThan(2500);
    expect(await leftovers('sleep 1000')).toEqual([]);
  });

  it('contains a fork bomb: at most maxProcesses at once, none left after it', async () => {
    const marker = `bomb-${unique()}`;
    const maxProcesses = 32;
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, sandboxProcesses(marker).length);
    }, 50);
    const started = performance.now();
    try {
      // bash keeps retrying failed forks, so the bomb pushes against the limit until killed.
      const result = await sandbox.run(
        workspace,
        `exec bash -c ': ${marker}; :(){ :|:& };:; exec sleep 1000'`,
        { limits: { timeoutMs: 3000, maxProcesses } },
      );
      expect(result.timedOut).toBe(true);
      expect(result.stderr).toContain('fork: retry: Resource temporarily unavailable');
    } finally {
      clearInterval(sampler);
    }
    expect(performance.now() - started).toBeLessThan(4500);
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(maxProcesses);
    expect(await leftovers(marker)).toEqual([]);
  }, 20_000);

  it('caps the output it keeps, counting all of it', async () => {
    const result = await sandbox.run(workspace, "head -c 200000 /dev/zero | tr '\\0' a");
    const cap = DEFAULT_SANDBOX_LIMITS.outputBytes;
    expect(result.exitCode).toBe(0);
    expect(result.stdoutBytes).toBe(200000);
    expect(result.stdout).toBe(`${'a'.repeat(cap)}${MARKER}200000 bytes total]`);

    const small = await sandbox.run(workspace, 'head -c 100 /dev/zero | tr "\\0" b >&2', {
      limits: { outputBytes: 10 },
    });
    expect(small.stderr).toBe(`bbbbbbbbbb${MARKER}100 bytes total]`);
    expect(small.stderrBytes).toBe(100);
  });

  it('kills the process tree when aborted, then rejects with the reason', async () => {
    const controller = new AbortController();
    let abortedAt = 0;
    // The command announces itself with a file; abort as soon as it appears.
    const watcher = watch(workspace, (_event, name) => {
      if (name !== 'started' || controller.signal.aborted) return;
      abortedAt = performance.now();
      controller.abort(new Error('stopped by the spec'));
    });
    try {
      await expect(
        sandbox.run(workspace, 'touch started; sleep 999', { signal: controller.signal }),
      ).rejects.toThrow('stopped by the spec');
      expect(performance.now() - abortedAt).toBeLessThan(1500);
    } finally {
      watcher.close();
    }
    expect(await leftovers('sleep 999')).toEqual([]);

    await expect(
      sandbox.run(workspace, 'touch never', { signal: AbortSignal.abort(new Error('early')) }),
    ).rejects.toThrow('early');
    expect(existsSync(join(workspace, 'never'))).toBe(false);
  });
});
