/** A run's agent asked to hand the conversation over (switch_agent): recorded with its step. */
export const AGENT_SWITCH_REQUESTED = 'agent.switch_requested';
/** The session's current agent changed (by an agent's request or the user's). */
export const AGENT_SWITCHED = 'agent.switched';

export interface AgentSwitchRequestedPayload {
  session_id: string;
  project_id: string;
  owner_id: string;
  run_id: string;
  input_message_id: string | null;
  from_agent_id: string;
  from_agent_name: string;
  to_agent_id: string;
  to_agent_name: string;
  reason: 'tool';
  explanation: string;
  note: string | null;
  /** Reserved (held) in the session's lane right behind the switching run. */
  continuation_run_id: string;
}

export interface AgentSwitchedPayload {
  switch_id: string;
  session_id: string;
  project_id: string;
  owner_id: string;
  from_agent_id: string | null;
  from_agent_name: string | null;
  to_agent_id: string;
  to_agent_name: string;
  reason: 'tool' | 'user' | 'routed';
  continuation_run_id: string | null;
}
