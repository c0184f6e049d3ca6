export type { PlanState, Tool, ToolContext, ToolEffect, ToolPlan, ToolResult } from './tool';
export {
  type AgentToolPolicy,
  decideToolCall,
  normaliseWorkspacePath,
  type PolicyContext,
  type ToolCallRequest,
  type ToolDecision,
} from './policy/tool-policy';
export {
  findTool,
  READ_TOOLS,
  TOOL_NAMES,
  TOOL_REGISTRY,
  type ToolDefinition,
  WORKSPACE_TOOLS,
  WRITE_TOOLS,
} from './policy/tool-catalog';
export { ToolRegistry } from './tool-registry';
export { ToolsModule } from './tools.module';
export { fileTools } from './workspace/file-tools';
export { DELEGATE, SWITCH_AGENT, delegateTool, switchAgentTool } from './handoffs/handoff-tools';
