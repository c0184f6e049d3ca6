import {
  type CanActivate,
  createParamDecorator,
  type ExecutionContext,
  Injectable,
} from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { invalidUuidError, UUID_PATTERN } from '@codelab/platform';
import { type Project } from '../entities/project.entity';
import { GetOwnedProjectQuery } from '../queries/get-owned-project/get-owned-project.query';

interface ProjectScopedRequest {
  params: Record<string, string | undefined>;
  user?: { id: string };
  project?: Project;
}

/**
 * For every route under /v1/my/projects/{projectId}/...: loads the project by id AND the caller
 * as owner before the handler runs. A foreign project is a 404 exactly like a missing one, and
 * counts as an isolation denial. Read the project with @CurrentProject().
 */
@Injectable()
export class ProjectAccessGuard implements CanActivate {
  constructor(private readonly queries: QueryBus) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<ProjectScopedRequest>();
    const projectId = req.params.projectId;
    if (!projectId || !UUID_PATTERN.test(projectId)) throw invalidUuidError('projectId');
    // The global JWT guard ran first; without a user this route was misconfigured as public.
    if (!req.user) return false;
    req.project = await this.queries.execute(new GetOwnedProjectQuery(projectId, req.user.id));
    return true;
  }
}

/** The project ProjectAccessGuard loaded for this request. */
export const CurrentProject = createParamDecorator((_: unknown, ctx: ExecutionContext): Project => {
  const project = ctx.switchToHttp().getRequest<ProjectScopedRequest>().project;
  if (!project) throw new Error('CurrentProject used on a route without ProjectAccessGuard');
  return project;
});
