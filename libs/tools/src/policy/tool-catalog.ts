/**
 * Every tool an agent may be given. `access` is what the tool does to the workspace; the policy
 * derives path checks and default approval needs from it.
 */
export type ToolAccess = 'read' | 'write' | 'execute' | 'none';

export interface ToolDefinition {
  name: string;
  access: ToolAccess;
  /** Whether the tool takes a workspace path argument (`path`). */
  takesPath: boolean;
  description: string;
}

export const TOOL_REGISTRY: readonly ToolDefinition[] = [
  {
    name: 'list_files',
    access: 'read',
    takesPath: true,
    description: 'List files under a workspace directory',
  },
  { name: 'read_file', access: 'read', takesPath: true, description: 'Read a workspace file' },
  {
    name: 'search_files',
    access: 'read',
    takesPath: true,
    description: 'Search text in workspace files',
  },
  {
    name: 'analyze_data',
    access: 'read',
    takesPath: true,
    description: 'Summarise a CSV/JSON data file',
  },
  {
    name: 'write_file',
    access: 'write',
    takesPath: true,
    description: 'Create or overwrite a workspace file',
  },
  {
    name: 'edit_file',
    access: 'write',
    takesPath: true,
    description: 'Apply an edit to a workspace file',
  },
  { name: 'delete_file', access: 'write', takesPath: true, description: 'Delete a workspace file' },
  { name: 'move_file', access: 'write', takesPath: true, description: 'Move a workspace file' },
  {
    name: 'run_command',
    access: 'execute',
    takesPath: false,
    description: 'Run a command in the workspace',
  },
  {
    name: 'switch_agent',
    access: 'none',
    takesPath: false,
    description: 'Hand the conversation to another agent',
  },
  {
    name: 'delegate',
    access: 'none',
    takesPath: false,
    description: "Ask another agent for a task's result and wait for it",
  },
];

/**
 * Test-only tools (see libs/tools/src/testing), known to policies only when the process runs with
 * TEST_TOOLS=true (the config refuses it in production). Read here at import because the DTO
 * validators are built from this list at import.
 */
const TEST_TOOL_DEFINITIONS: readonly ToolDefinition[] = [
  { name: 'test_read', access: 'read', takesPath: false, description: 'Test: echo (a read)' },
  { name: 'test_write', access: 'write', takesPath: false, description: 'Test: one effect' },
  { name: 'test_park', access: 'none', takesPath: false, description: 'Test: parks the run' },
  { name: 'test_fail', access: 'read', takesPath: false, description: 'Test: always fails' },
];
if (process.env.TEST_TOOLS === 'true')
  (TOOL_REGISTRY as ToolDefinition[]).push(...TEST_TOOL_DEFINITIONS);

export const TOOL_NAMES: readonly string[] = TOOL_REGISTRY.map((t) => t.name);

const BY_NAME = new Map(TOOL_REGISTRY.map((t) => [t.name, t]));

export function findTool(name: string): ToolDefinition | undefined {
  return BY_NAME.get(name);
}

/** Tools that touch the workspace; the "ask" role gets none of them. */
export const WORKSPACE_TOOLS = TOOL_REGISTRY.filter((t) => t.access !== 'none').map((t) => t.name);
export const READ_TOOLS = TOOL_REGISTRY.filter((t) => t.access === 'read').map((t) => t.name);
export const WRITE_TOOLS = TOOL_REGISTRY.filter((t) => t.access === 'write').map((t) => t.name);
