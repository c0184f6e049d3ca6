export type { Tool, ToolContext, ToolResult } from './tool';
export { ToolRegistry } from './tool-registry';
export { ToolsModule } from './tools.module';
