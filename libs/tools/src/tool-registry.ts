import { Injectable } from '@nestjs/common';
import type { Tool } from './tool';

/**
 * The tools this process can execute. An agent's policy (allowlist, write globs, approvals) says
 * which of them it may call; a tool named in a policy but not registered here answers "not
 * available" (the workspace tools arrive with the workspace feature).
 */
@Injectable()
export class ToolRegistry {
  private readonly tools = new Map<string, Tool>();

  register(tool: Tool): void {
    if (this.tools.has(tool.name)) throw new Error(`Two tools named "${tool.name}"`);
    this.tools.set(tool.name, tool);
  }

  get(name: string): Tool | undefined {
    return this.tools.get(name);
  }

  /** The registered tools among `names`, in that order. */
  available(names: readonly string[]): Tool[] {
    return names.map((n) => this.tools.get(n)).filter((t): t is Tool => t !== undefined);
  }
}
