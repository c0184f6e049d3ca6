import { Injectable } from '@nestjs/common';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Tool } from './tool';

/**
 * The tools this process can execute. An agent's policy (allowlist, write globs, approvals) says
 * which of them it may call; a tool named in a policy but not registered here answers "not
 * available" (the workspace tools arrive with the workspace feature).
 */
@Injectable()
export class ToolRegistry {
  private readonly tools = new Map<string, Tool>();
  private readonly ajv = new Ajv({ allErrors: true, strict: false });
  private readonly validators = new Map<string, ValidateFunction>();

  register(tool: Tool): void {
    if (this.tools.has(tool.name)) throw new Error(`Two tools named "${tool.name}"`);
    this.tools.set(tool.name, tool);
  }

  get(name: string): Tool | undefined {
    return this.tools.get(name);
  }

  /** Null when the arguments fit the tool's JSON Schema, else what is wrong, for the model. */
  validate(tool: Tool, args: unknown): string | null {
    let validator = this.validators.get(tool.name);
    if (!validator) {
      validator = this.ajv.compile(tool.parameters);
      this.validators.set(tool.name, validator);
    }
    return validator(args) ? null : this.ajv.errorsText(validator.errors, { dataVar: 'arguments' });
  }

  /** The registered tools among `names`, in that order. */
  available(names: readonly string[]): Tool[] {
    return names.map((n) => this.tools.get(n)).filter((t): t is Tool => t !== undefined);
  }
}
