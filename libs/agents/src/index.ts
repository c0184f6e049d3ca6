export { Agent, AgentStatus } from './entities/agent.entity';
export { AgentsModule } from './agents.module';
export { AgentsHttpModule } from './http/agents-http.module';
export { GetOwnedAgentQuery } from './queries/get-owned-agent/get-owned-agent.query';
export { FindProjectAgentQuery } from './queries/find-project-agent/find-project-agent.query';
export {
  findRoleTemplate,
  ROLE_TEMPLATES,
  type RoleTemplate,
  STARTER_PACK,
} from './templates/role-templates';
export { AgentActivityQuery } from './queries/agent-activity/agent-activity.query';
export { AGENT_DELETED, type AgentDeletedPayload } from './events/agent-events';
export { ListAgentsQuery } from './queries/list-agents/list-agents.query';
