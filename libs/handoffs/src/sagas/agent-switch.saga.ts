import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import { type EntityManager, RequestContext } from '@mikro-orm/postgresql';
import {
  type DomainEvent,
  type DomainEventHandler,
  ResourceNotFoundError,
} from '@codelab/platform';
import { GetRunQuery, type RunLanes, type RunLifecycle, RunStatus } from '@codelab/runs';
import { SwitchAgentCommand } from '../commands/switch-agent/switch-agent.command';
import { SwitchReason } from '../entities/agent-switch.entity';
import {
  AGENT_SWITCH_REQUESTED,
  AGENT_SWITCHED,
  type AgentSwitchedPayload,
  type AgentSwitchRequestedPayload,
} from '../handoffs.events';

/**
 * The switch saga, in whichever worker takes each event, each step exactly once per event:
 *
 *   switch_agent step (+ AgentSwitchRequested + a held continuation, one transaction)
 *     -> SwitchAgentCommand: the session's current agent, an AgentSwitch row, AgentSwitched
 *     -> the continuation is released and dispatched in the session's lane
 *
 * The continuation was reserved in the lane behind the switching run when the switch was asked
 * for, so nothing queued later overtakes it. A switch that cannot be applied any more (the agent
 * was deleted, the session archived) fails the continuation instead, and one whose run the user
 * cancelled meanwhile cancels it; either way the lane moves on.
 */
export function agentSwitchSaga(
  em: EntityManager,
  commands: CommandBus,
  queries: QueryBus,
  lanes: RunLanes,
  lifecycle: RunLifecycle,
): DomainEventHandler[] {
  return [
    {
      name: 'handoffs.apply-requested-switch',
      types: [AGENT_SWITCH_REQUESTED],
      async handle(event: DomainEvent, tx: EntityManager) {
        const p = event.payload as unknown as AgentSwitchRequestedPayload;
        const switching = await RequestContext.create(em, () =>
          queries.execute(new GetRunQuery(p.session_id, p.run_id, p.owner_id)),
        ).catch((error: unknown) => {
          if (error instanceof ResourceNotFoundError) return null;
          throw error;
        });
        if (!switching || switching.status === RunStatus.Cancelled) {
          const cancelled = await lifecycle.transition(
            tx,
            p.continuation_run_id,
            RunStatus.Cancelled,
            {
              from: [RunStatus.Queued],
              reason: 'switch_cancelled',
              error: {
                code: 'SWITCH_CANCELLED',
                message: 'The run that asked for the switch was cancelled',
              },
            },
          );
          if (cancelled) return () => lifecycle.afterCommit(cancelled);
          return;
        }
        const outcome = await commands.execute(
          new SwitchAgentCommand(
            {
              sessionId: p.session_id,
              projectId: p.project_id,
              ownerId: p.owner_id,
              agent: p.to_agent_id,
              reason: SwitchReason.Tool,
              explanation: p.explanation,
              note: p.note,
              from: { id: p.from_agent_id, name: p.from_agent_name },
              runId: p.run_id,
              inputMessageId: p.input_message_id,
              continuationRunId: p.continuation_run_id,
              eventId: event.id,
            },
            tx,
          ),
        );
        if (outcome.kind === 'switched') {
          const after = outcome.after;
          return async () => after();
        }
        const failed = await lifecycle.transition(tx, p.continuation_run_id, RunStatus.Failed, {
          from: [RunStatus.Queued],
          reason: 'switch_refused',
          error: { code: `SWITCH_${outcome.code}`, message: outcome.message },
        });
        if (failed) return () => lifecycle.afterCommit(failed);
      },
    },
    {
      name: 'handoffs.continue-after-switch',
      types: [AGENT_SWITCHED],
      accepts: (event) => typeof event.payload.continuation_run_id === 'string',
      async handle(event: DomainEvent, tx: EntityManager) {
        const p = event.payload as unknown as AgentSwitchedPayload;
        const { dispatched } = await lanes.release(tx, p.continuation_run_id!);
        if (dispatched) return () => lifecycle.enqueue(dispatched);
      },
    },
  ];
}
