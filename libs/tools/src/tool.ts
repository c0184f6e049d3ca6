import type { StepEffect } from '@codelab/runs';

/** Where a tool call happens: the run and its scope (tools re-check ownership from these). */
export interface ToolContext {
  runId: string;
  sessionId: string;
  projectId: string;
  ownerId: string;
  agentId: string;
  /** The journal step of this call. */
  stepSeq: number;
  signal: AbortSignal;
}

export type ToolResult =
  | { kind: 'ok'; output: unknown }
  | { kind: 'error'; code: string; message: string }
  /** The call cannot finish now: the run parks until the step is resolved from outside. */
  | { kind: 'park'; status: 'awaiting_approval' | 'awaiting_children'; reason: string };

/**
 * One executable tool: name, description, JSON Schema of its arguments, its effect class (reads
 * may run in parallel and be repeated after a crash; writes and commands run one at a time and
 * are never repeated blindly) and what it does.
 */
export interface Tool {
  readonly name: string;
  readonly description: string;
  readonly parameters: Record<string, unknown>;
  readonly effect: StepEffect;
  execute(args: Record<string, unknown>, context: ToolContext): Promise<ToolResult>;
}
