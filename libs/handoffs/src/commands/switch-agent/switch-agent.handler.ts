import { CommandHandler, EventBus, type ICommandHandler, QueryBus } from '@nestjs/cqrs';
import { EntityManager, RequestContext } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { DomainEvents } from '@codelab/platform';
import { FindProjectAgentQuery } from '@codelab/agents';
import { CurrentAgent } from '@codelab/sessions';
import { SessionEvent } from '@codelab/streaming';
import { toAgentSwitchDto } from '../../dto/agent-switch.dto';
import { AgentSwitch } from '../../entities/agent-switch.entity';
import { AGENT_SWITCHED, type AgentSwitchedPayload } from '../../handoffs.events';
import { AGENT_SWITCHES } from '../../handoffs.metrics';
import { SwitchAgentCommand, type SwitchOutcome } from './switch-agent.command';

@CommandHandler(SwitchAgentCommand)
export class SwitchAgentHandler implements ICommandHandler<SwitchAgentCommand> {
  constructor(
    private readonly em: EntityManager,
    private readonly queries: QueryBus,
    private readonly events: EventBus,
    private readonly domainEvents: DomainEvents,
    private readonly currentAgent: CurrentAgent,
    @InjectMetric(AGENT_SWITCHES) private readonly switches: Counter<string>,
  ) {}

  async execute({ request, tx }: SwitchAgentCommand): Promise<SwitchOutcome> {
    // Read before the transaction: the agents feature answers through its query.
    const agent = await RequestContext.create(this.em, () =>
      this.queries.execute(
        new FindProjectAgentQuery(request.projectId, request.ownerId, request.agent),
      ),
    );
    if (!agent) {
      this.switches.inc({ reason: request.reason, outcome: 'refused' });
      return {
        kind: 'refused',
        code: 'UNKNOWN_AGENT',
        message: `No agent "${request.agent}" in this project`,
      };
    }
    const outcome = tx
      ? await this.apply(tx, request, agent)
      : await this.em.fork().transactional((own) => this.apply(own, request, agent));
    if (outcome.kind === 'refused')
      this.switches.inc({ reason: request.reason, outcome: 'refused' });
    if (!tx && outcome.kind === 'switched') outcome.after();
    return outcome;
  }

  private async apply(
    tx: EntityManager,
    request: SwitchAgentCommand['request'],
    agent: { id: string; name: string },
  ): Promise<SwitchOutcome> {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    const [existing] = await conn.execute<Record<string, unknown>[]>(
      'select * from agent_switches where event_id = ?',
      [request.eventId],
      'all',
      ctx,
    );
    if (existing)
      return {
        kind: 'switched',
        agentSwitch: tx.map(AgentSwitch, existing),
        duplicate: true,
        after: () => undefined,
      };
    const session = {
      sessionId: request.sessionId,
      projectId: request.projectId,
      ownerId: request.ownerId,
    };
    const changed = await this.currentAgent.set(tx, session, agent.id);
    if (!changed)
      return {
        kind: 'refused',
        code: 'SESSION_NOT_FOUND',
        message: 'The session no longer exists',
      };
    if (changed.archived)
      return { kind: 'refused', code: 'SESSION_ARCHIVED', message: 'The session is archived' };
    let from = request.from ?? null;
    if (!from && changed.previousAgentId) {
      const previous = await RequestContext.create(this.em, () =>
        this.queries.execute(
          new FindProjectAgentQuery(request.projectId, request.ownerId, changed.previousAgentId!),
        ),
      );
      from = previous ? { id: previous.id, name: previous.name } : null;
    }
    const [row] = await conn.execute<Record<string, unknown>[]>(
      `insert into agent_switches (id, session_id, project_id, owner_id, from_agent_id, from_agent_name,
         to_agent_id, to_agent_name, reason, explanation, note, run_id, input_message_id,
         continuation_run_id, event_id)
       values (gen_random_uuid(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning *`,
      [
        request.sessionId,
        request.projectId,
        request.ownerId,
        from?.id ?? null,
        from?.name ?? null,
        agent.id,
        agent.name,
        request.reason,
        request.explanation ?? null,
        request.note ?? null,
        request.runId ?? null,
        request.inputMessageId ?? null,
        request.continuationRunId ?? null,
        request.eventId,
      ],
      'all',
      ctx,
    );
    const agentSwitch = tx.map(AgentSwitch, row);
    const payload: AgentSwitchedPayload = {
      switch_id: agentSwitch.id,
      session_id: agentSwitch.sessionId,
      project_id: agentSwitch.projectId,
      owner_id: agentSwitch.ownerId,
      from_agent_id: agentSwitch.fromAgentId,
      from_agent_name: agentSwitch.fromAgentName,
      to_agent_id: agentSwitch.toAgentId,
      to_agent_name: agentSwitch.toAgentName,
      reason: agentSwitch.reason,
      continuation_run_id: agentSwitch.continuationRunId,
    };
    await this.domainEvents.record(tx, {
      type: AGENT_SWITCHED,
      aggregateType: 'session',
      aggregateId: agentSwitch.sessionId,
      ownerId: agentSwitch.ownerId,
      payload: payload as unknown as Record<string, unknown>,
    });
    return {
      kind: 'switched',
      agentSwitch,
      duplicate: false,
      after: () => {
        this.switches.inc({ reason: agentSwitch.reason, outcome: 'switched' });
        this.events.publish(
          new SessionEvent(
            'agent_switched',
            agentSwitch.sessionId,
            agentSwitch.runId,
            agentSwitch.toAgentId,
            {
              switch: toAgentSwitchDto(agentSwitch),
              from: agentSwitch.fromAgentName,
              to: agentSwitch.toAgentName,
              reason: agentSwitch.reason,
            },
          ),
        );
      },
    };
  }
}
