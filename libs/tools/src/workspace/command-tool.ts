import type { WorkspaceFiles } from '@codelab/workspace';
import type { CommandSandbox } from '../sandbox/command-sandbox';
import type { Tool, ToolResult } from '../tool';

/**
 * `run_command`: a shell command in the project's workspace, inside the bubblewrap sandbox (no
 * network, no environment, only the workspace writable, resource limits, a wall-clock timeout
 * that kills the whole process tree). If the sandbox's self-test failed it never runs: the call
 * is a tool error. Whether a project allows commands at all, and whether each one waits for
 * approval, is the policy's decision (project settings), before this runs.
 */
export function commandTool(
  files: WorkspaceFiles,
  sandbox: CommandSandbox,
  maxTimeoutMs: number,
): Tool {
  return {
    name: 'run_command',
    description:
      'Run a shell command (sh -c) in the workspace directory, in a sandbox without network access. Returns the exit code and the output (each stream capped at 64 KiB).',
    parameters: {
      type: 'object',
      properties: {
        command: { type: 'string', minLength: 1, maxLength: 10_000 },
        timeout_seconds: {
          type: 'integer',
          minimum: 1,
          maximum: Math.max(1, Math.floor(maxTimeoutMs / 1000)),
        },
      },
      required: ['command'],
      additionalProperties: false,
    },
    effect: 'exec',
    async execute(args, context): Promise<ToolResult> {
      const status = await sandbox.selfTest();
      if (!status.ok)
        return {
          kind: 'error',
          code: 'SANDBOX_UNAVAILABLE',
          message: `Commands are unavailable: the sandbox failed its self-test (${status.reason})`,
        };
      const dir = await files.dir(context.projectId);
      const timeoutMs = Math.min(
        maxTimeoutMs,
        typeof args.timeout_seconds === 'number' ? args.timeout_seconds * 1000 : maxTimeoutMs,
      );
      const result = await sandbox.run(dir.root, String(args.command), {
        signal: context.signal,
        limits: { timeoutMs },
      });
      // A command may have changed anything: the client refreshes the whole tree.
      context.publish('file_changed', { path: '.', sha256: null, cause: 'run_command' });
      return {
        kind: 'ok',
        output: {
          exit_code: result.exitCode,
          signal: result.signal,
          timed_out: result.timedOut,
          stdout: result.stdout,
          stderr: result.stderr,
          stdout_bytes: result.stdoutBytes,
          stderr_bytes: result.stderrBytes,
          duration_ms: result.durationMs,
        },
      };
    },
  };
}
