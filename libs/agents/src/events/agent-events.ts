/** Domain event (durable, see DomainEvents): an agent was deleted. Payload: AgentDeletedPayload. */
export const AGENT_DELETED = 'agent.deleted';

export interface AgentDeletedPayload {
  agent_id: string;
  project_id: string;
  owner_id: string;
}
