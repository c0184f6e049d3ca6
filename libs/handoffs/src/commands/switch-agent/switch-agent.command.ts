import { Command } from '@nestjs/cqrs';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AgentSwitch, SwitchReason } from '../../entities/agent-switch.entity';

export interface SwitchRequest {
  sessionId: string;
  projectId: string;
  ownerId: string;
  /** The agent to switch to: a name or an id in the project. */
  agent: string;
  reason: SwitchReason;
  explanation?: string | null;
  note?: string | null;
  /** The switching agent (tool switches; a user's switch is from the session's current one). */
  from?: { id: string; name: string } | null;
  runId?: string | null;
  inputMessageId?: string | null;
  continuationRunId?: string | null;
  /** Applied once per id: the domain event that asked for it, or a fresh id per user request. */
  eventId: string;
}

export type SwitchOutcome =
  | {
      kind: 'switched';
      agentSwitch: AgentSwitch;
      /** Already applied by an earlier delivery: nothing was written this time. */
      duplicate: boolean;
      /** What to do once the caller's transaction has committed (stream event, metrics). */
      after: () => void;
    }
  | {
      kind: 'refused';
      code: 'UNKNOWN_AGENT' | 'SESSION_NOT_FOUND' | 'SESSION_ARCHIVED';
      message: string;
    };

/**
 * Makes `agent` the session's current agent and records the switch (and AgentSwitched), in `tx`
 * when given (a saga's transaction), else in a transaction of its own.
 */
export class SwitchAgentCommand extends Command<SwitchOutcome> {
  constructor(
    readonly request: SwitchRequest,
    readonly tx?: EntityManager,
  ) {
    super();
  }
}
