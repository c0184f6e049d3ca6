import {
  type CanActivate,
  createParamDecorator,
  type ExecutionContext,
  Injectable,
} from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { EntityManager } from '@mikro-orm/postgresql';
import { accountExists, InvalidAccessTokenError, type ProvesAccount } from '@codelab/auth';
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
  /** Finding the project by owner proves the account exists: the JWT guard skips its lookup. */
  static readonly provesAccount: ProvesAccount['provesAccount'] = true;

  constructor(
    private readonly queries: QueryBus,
    private readonly em: EntityManager,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<ProjectScopedRequest>();
    const projectId = req.params.projectId;
    // The global JWT guard ran first; without a user this route was misconfigured as public.
    if (!req.user) return false;
    try {
      if (!projectId || !UUID_PATTERN.test(projectId)) throw invalidUuidError('projectId');
      req.project = await this.queries.execute(new GetOwnedProjectQuery(projectId, req.user.id));
    } catch (error) {
      // A miss (or a malformed id) may hide an account deleted since the token was issued: the
      // JWT guard left that check to us, and it is a 401 before anything else.
      if (!(await accountExists(this.em, req.user.id)))
        throw new InvalidAccessTokenError('The account of this token no longer exists');
      throw error;
    }
    return true;
  }
}

/** The project ProjectAccessGuard loaded for this request. */
export const CurrentProject = createParamDecorator((_: unknown, ctx: ExecutionContext): Project => {
  const project = ctx.switchToHttp().getRequest<ProjectScopedRequest>().project;
  if (!project) throw new Error('CurrentProject used on a route without ProjectAccessGuard');
  return project;
});
