import picomatch from 'picomatch';
import { isDeniedToAgents } from '@codelab/workspace';
import { findTool } from './tool-catalog';

/** The declarative policy of one agent. */
export interface AgentToolPolicy {
  /** Allowlist: a tool not listed is denied. */
  tools: readonly string[];
  /** Globs (relative to the workspace root) that write tools may touch. Empty: no writes. */
  writePaths: readonly string[];
  /** Tools whose calls wait for the user's approval. */
  approvalTools: readonly string[];
}

export interface ToolCallRequest {
  tool: string;
  args: Record<string, unknown>;
}

export type ToolDecision =
  | { outcome: 'allow'; path?: string }
  | { outcome: 'needs_approval'; path?: string; reason: string }
  | { outcome: 'deny'; reason: string };

export interface PolicyContext {
  /** The user approved this exact call. Approval only lifts `needs_approval`; it never widens. */
  approved?: boolean;
  /** The project turned write approvals off. */
  approvalsDisabled?: boolean;
  /**
   * The paths the call touches as the workspace resolved them (symlinks followed): when given,
   * the policy decides on these rather than on the paths the model wrote.
   */
  resolvedPaths?: readonly string[];
  /** What the project's owner decided for every agent (see ProjectSettings). */
  project?: {
    commandsEnabled: boolean;
    commandsNeedApproval: boolean;
    deniedPaths: readonly string[];
    /** Tools whose calls wait for approval in this project, on top of the agent's list. */
    approvalTools?: readonly string[];
  };
}

/**
 * Normalises a workspace-relative path, or explains why it is not one: absolute paths, drive
 * letters, backslashes, NUL bytes and any `..` segment are refused before globbing, so nothing a
 * glob allows can point outside the workspace. (Symlinks are resolved by the workspace layer.)
 */
export function normaliseWorkspacePath(raw: unknown): { path: string } | { error: string } {
  if (typeof raw !== 'string' || raw.length === 0)
    return { error: 'path must be a non-empty string' };
  if (raw.length > 1024) return { error: 'path is too long' };
  if (raw.includes('\0')) return { error: 'path contains a NUL byte' };
  if (raw.includes('\\')) return { error: 'path must use forward slashes' };
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw) || raw.startsWith('~'))
    return { error: 'path must be relative to the workspace' };
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return { error: 'path must not contain ".."' };
  return { path: segments.length ? segments.join('/') : '.' };
}

export function matchesAnyGlob(path: string, globs: readonly string[]): boolean {
  return globs.length > 0 && picomatch(globs as string[], { dot: true })(path);
}

/**
 * The one check every tool call passes before it runs. Pure: the same policy and call always give
 * the same decision.
 */
export function decideToolCall(
  policy: AgentToolPolicy,
  call: ToolCallRequest,
  context: PolicyContext = {},
): ToolDecision {
  const tool = findTool(call.tool);
  if (!tool) return { outcome: 'deny', reason: `unknown tool "${call.tool}"` };
  if (!policy.tools.includes(tool.name))
    return { outcome: 'deny', reason: `tool "${tool.name}" is not allowed for this agent` };

  const project = context.project;
  if (tool.access === 'execute' && project && !project.commandsEnabled)
    return {
      outcome: 'deny',
      reason: `commands are disabled in this project (settings.commands_enabled)`,
    };

  let path: string | undefined;
  if (tool.takesPath) {
    let paths: readonly string[];
    if (context.resolvedPaths) paths = context.resolvedPaths;
    else {
      const normalised = normaliseWorkspacePath(call.args.path ?? '.');
      if ('error' in normalised) return { outcome: 'deny', reason: normalised.error };
      paths = [normalised.path];
    }
    path = paths[0];
    for (const p of paths) {
      if (isDeniedToAgents(p) || (project && matchesAnyGlob(p, project.deniedPaths)))
        return { outcome: 'deny', reason: `"${p}" is off limits to agents` };
      if (tool.access === 'write' && !matchesAnyGlob(p, policy.writePaths))
        return { outcome: 'deny', reason: `writing "${p}" is outside this agent's write paths` };
    }
  }

  const needsApproval =
    (policy.approvalTools.includes(tool.name) &&
      !(context.approvalsDisabled && tool.access === 'write')) ||
    (tool.access === 'execute' && project !== undefined && project.commandsNeedApproval) ||
    (project?.approvalTools?.includes(tool.name) ?? false);
  if (needsApproval && !context.approved) {
    return { outcome: 'needs_approval', path, reason: `tool "${tool.name}" requires approval` };
  }
  return { outcome: 'allow', path };
}
