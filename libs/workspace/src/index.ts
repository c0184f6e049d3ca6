export * from './files/workspace-files';
export * from './paths/workspace-dir';
export * from './paths/workspace-path';
export * from './workspace.errors';
export { WorkspaceModule } from './workspace.module';
export { WorkspaceHttpModule } from './http/workspace-http.module';
