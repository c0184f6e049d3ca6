export { AgentSwitch, SwitchReason } from './entities/agent-switch.entity';
export { HandoffsModule } from './handoffs.module';
export { HandoffsHttpModule } from './http/handoffs-http.module';
export {
  SwitchAgentCommand,
  type SwitchOutcome,
  type SwitchRequest,
} from './commands/switch-agent/switch-agent.command';
export { ListAgentSwitchesQuery } from './queries/list-agent-switches/list-agent-switches.query';
export {
  AGENT_SWITCH_REQUESTED,
  AGENT_SWITCHED,
  type AgentSwitchRequestedPayload,
  type AgentSwitchedPayload,
} from './handoffs.events';
export { AGENT_SWITCHES, DELEGATIONS, DELEGATION_RESULTS_INVALID } from './handoffs.metrics';
export { toAgentSwitchDto, AgentSwitchDto } from './dto/agent-switch.dto';
