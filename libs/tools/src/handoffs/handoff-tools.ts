import type { Tool, ToolResult } from '../tool';

export const SWITCH_AGENT = 'switch_agent';
export const DELEGATE = 'delegate';

/**
 * Hand-off tools change the run itself (it ends, or parks on a child), so the agent runtime
 * carries them out in the run's own journal transaction; here are their names, descriptions and
 * argument schemas (what the model sees and what the registry validates).
 */
const carriedOutByRuntime = async (): Promise<ToolResult> => ({
  kind: 'error',
  code: 'TOOL_NOT_AVAILABLE',
  message: 'This tool is carried out by the agent runtime',
});

export const switchAgentTool: Tool = {
  name: SWITCH_AGENT,
  description:
    "Hand this conversation to another agent of the project, who answers the user's last message next. Your run ends with the switch; use it when another agent's role fits the request better.",
  effect: 'none',
  parameters: {
    type: 'object',
    additionalProperties: false,
    required: ['agent', 'reason'],
    properties: {
      agent: { type: 'string', minLength: 1, maxLength: 100, description: "The agent's name" },
      reason: { type: 'string', minLength: 1, maxLength: 500, description: 'Why it fits better' },
      note: {
        type: 'string',
        maxLength: 4000,
        description: 'What the next agent should know or do (it does not see your tool calls)',
      },
    },
  },
  execute: carriedOutByRuntime,
};

export const delegateTool: Tool = {
  name: DELEGATE,
  description:
    'Ask another agent of the project to do a task and wait for its result. Several delegate calls in one turn run in parallel. With `returns` (a JSON Schema) the result is JSON that matches it.',
  effect: 'none',
  parameters: {
    type: 'object',
    additionalProperties: false,
    required: ['agent', 'instruction'],
    properties: {
      agent: { type: 'string', minLength: 1, maxLength: 100, description: "The agent's name" },
      instruction: { type: 'string', minLength: 1, maxLength: 16000 },
      returns: {
        type: 'object',
        description: 'JSON Schema the result must match (the answer is then JSON)',
      },
    },
  },
  execute: carriedOutByRuntime,
};

export const handoffTools = (): Tool[] => [switchAgentTool, delegateTool];
