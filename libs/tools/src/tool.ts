/**
 * What a call does to the world: reads may run in parallel and again after a crash; writes and
 * commands run one at a time and are never repeated blindly. (The journal's StepEffect values.)
 */
export type ToolEffect = 'none' | 'read' | 'write' | 'exec';

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
  /** The paths the policy decided on (what `targets` resolved), when the tool has targets. */
  resolvedPaths?: readonly string[];
  /** The project's own globs agents may not touch (beyond .git and .env*, always denied). */
  deniedPaths: readonly string[];
  /** Sends an event to the session's stream. */
  publish(type: 'file_changed', payload: Record<string, unknown>): void;
}

export type ToolResult =
  | { kind: 'ok'; output: unknown }
  | { kind: 'error'; code: string; message: string }
  /** The call cannot finish now: the run parks until the step is resolved from outside. */
  | { kind: 'park'; status: 'awaiting_approval' | 'awaiting_children'; reason: string };

/**
 * What a change-making call will do, decided before it runs and journalled with the step, so
 * that after a crash the journal and the world together say whether it happened: `check` finds
 * it applied, still pending (then `apply` runs it, once), or neither (unknown outcome).
 */
export interface ToolPlan {
  /** Stored in the step before anything changes (JSON). */
  intent: Record<string, unknown>;
  apply(): Promise<ToolResult>;
}

export type PlanState = 'applied' | 'pending' | 'diverged';

/**
 * One executable tool: name, description, JSON Schema of its arguments, its effect class (reads
 * may run in parallel and be repeated after a crash; writes and commands run one at a time and
 * are never repeated blindly) and what it does.
 */
export interface Tool {
  readonly name: string;
  readonly description: string;
  readonly parameters: Record<string, unknown>;
  readonly effect: ToolEffect;
  /**
   * The workspace paths a call touches, resolved (symlinks inside the workspace followed): the
   * agent's policy decides on these, not on what the model wrote. A path error is a ToolResult.
   */
  targets?(args: Record<string, unknown>, context: ToolContext): Promise<string[] | ToolResult>;
  /** Change-making tools that can be journalled as a plan (see ToolPlan); else execute. */
  plan?(args: Record<string, unknown>, context: ToolContext): Promise<ToolPlan | ToolResult>;
  /** Where a journalled plan stands (crash recovery); with the output the call reported. */
  check?(
    intent: Record<string, unknown>,
    context: ToolContext,
  ): Promise<{ state: PlanState; output?: unknown }>;
  execute(args: Record<string, unknown>, context: ToolContext): Promise<ToolResult>;
}
