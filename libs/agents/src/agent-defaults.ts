import { type RoleTemplate } from './templates/role-templates';

export const DEFAULT_CONCURRENCY_LIMIT = 2;
export const DEFAULT_MEMORY_TOP_K = 5;
/** Model turns a run may take before it fails with MAX_STEPS_EXCEEDED. */
export const DEFAULT_MAX_STEPS = 16;
/** Seconds a run may execute (each active stretch; time parked does not count). */
export const DEFAULT_MAX_RUN_SECONDS = 600;

/** Writable agent fields, in domain terms (the HTTP layer maps snake_case onto these). */
export interface AgentInput {
  name: string;
  role: string;
  systemPrompt?: string;
  model?: string;
  temperature?: number;
  tools?: string[];
  writePaths?: string[];
  approvalTools?: string[];
  concurrencyLimit?: number;
  memoryEnabled?: boolean;
  memoryTopK?: number;
  maxSteps?: number;
  maxRunSeconds?: number;
}

export type AgentChanges = Partial<AgentInput>;

/** The template fills what the caller left out; explicit fields win. */
export function applyTemplate(input: AgentInput, template: RoleTemplate, defaultModel: string) {
  return {
    name: input.name,
    role: template.role,
    systemPrompt: input.systemPrompt ?? template.systemPrompt,
    model: input.model ?? defaultModel,
    temperature: input.temperature ?? template.temperature,
    tools: unique(input.tools ?? template.tools),
    writePaths: unique(input.writePaths ?? template.writePaths),
    approvalTools: unique(input.approvalTools ?? template.approvalTools),
    concurrencyLimit: input.concurrencyLimit ?? DEFAULT_CONCURRENCY_LIMIT,
    memoryEnabled: input.memoryEnabled ?? true,
    memoryTopK: input.memoryTopK ?? DEFAULT_MEMORY_TOP_K,
    maxSteps: input.maxSteps ?? DEFAULT_MAX_STEPS,
    maxRunSeconds: input.maxRunSeconds ?? DEFAULT_MAX_RUN_SECONDS,
  };
}

const unique = (values: readonly string[]) => [...new Set(values)];
