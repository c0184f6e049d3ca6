import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import {
  findKeysetPage,
  ISOLATION_DENIALS,
  type KeysetPage,
  ResourceNotFoundError,
} from '@codelab/platform';
import { Approval } from '../entities/approval.entity';
import {
  GetOwnedApprovalQuery,
  GetStepApprovalQuery,
  ListApprovalsQuery,
} from './approval.queries';

@QueryHandler(GetOwnedApprovalQuery)
export class GetOwnedApprovalHandler implements IQueryHandler<GetOwnedApprovalQuery> {
  constructor(
    private readonly em: EntityManager,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ projectId, ownerId, approvalId }: GetOwnedApprovalQuery): Promise<Approval> {
    const approval = await this.em
      .fork()
      .findOne(Approval, { id: approvalId, projectId, ownerId }, { disableIdentityMap: true });
    if (!approval) {
      this.denials.inc({ resource: 'approval' });
      throw new ResourceNotFoundError('Approval');
    }
    return approval;
  }
}

@QueryHandler(ListApprovalsQuery)
export class ListApprovalsHandler implements IQueryHandler<ListApprovalsQuery> {
  constructor(private readonly em: EntityManager) {}

  execute({
    projectId,
    ownerId,
    filter,
    limit,
    cursor,
  }: ListApprovalsQuery): Promise<KeysetPage<Approval>> {
    return findKeysetPage(
      this.em.fork(),
      Approval,
      {
        projectId,
        ownerId,
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.sessionId ? { sessionId: filter.sessionId } : {}),
      },
      { limit, cursor, direction: 'desc' },
    );
  }
}

@QueryHandler(GetStepApprovalQuery)
export class GetStepApprovalHandler implements IQueryHandler<GetStepApprovalQuery> {
  constructor(private readonly em: EntityManager) {}

  execute({ runId, stepSeq }: GetStepApprovalQuery): Promise<Approval | null> {
    return this.em.fork().findOne(Approval, { runId, stepSeq }, { disableIdentityMap: true });
  }
}
