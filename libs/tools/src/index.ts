export type { PlanState, Tool, ToolContext, ToolPlan, ToolResult } from './tool';
export { ToolRegistry } from './tool-registry';
export { ToolsModule } from './tools.module';
export { fileTools } from './workspace/file-tools';
