export { AgentRuntimeModule } from './agent-runtime.module';
