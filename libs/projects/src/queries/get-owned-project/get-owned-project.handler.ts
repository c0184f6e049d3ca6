import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ISOLATION_DENIALS } from '@codelab/platform';
import { Project } from '../../entities/project.entity';
import { projectNotFound } from '../../project-not-found';
import { GetOwnedProjectQuery } from './get-owned-project.query';

@QueryHandler(GetOwnedProjectQuery)
export class GetOwnedProjectHandler implements IQueryHandler<GetOwnedProjectQuery> {
  constructor(
    private readonly em: EntityManager,
    @InjectMetric(ISOLATION_DENIALS) private readonly denials: Counter<string>,
  ) {}

  async execute({ projectId, ownerId }: GetOwnedProjectQuery): Promise<Project> {
    const project = await this.em.findOne(Project, { id: projectId, owner: ownerId });
    if (!project) throw projectNotFound(this.denials);
    return project;
  }
}
