import { type ExecutionContext, Injectable } from '@nestjs/common';
import { GUARDS_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { IS_PUBLIC_KEY } from '@codelab/platform';
import { AUTH_EVENTS } from '../auth.metrics';
import { InvalidAccessTokenError } from '../auth.errors';
import { accountExists, provesAccount } from './account-proof';
import { type AuthUser } from './auth-user';
import { StreamTokenService } from './stream-token.service';
import { STREAM_TOKEN_ROUTE_KEY } from './stream-token-route.decorator';

/**
 * Global guard (APP_GUARD): every route needs a valid access token unless marked @Public(), and
 * the token's user must still exist: a deleted account's tokens are 401 at once, not when they
 * expire. That costs one primary-key lookup per authenticated request, and is not cached (a cache
 * would let a deleted account's tokens through for its TTL); routes whose guard proves the
 * account with its own owner-scoped query (ProvesAccount) skip it. A database that cannot answer is a
 * 503 like on any route, never a 401 that would log clients out.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    @InjectMetric(AUTH_EVENTS) private readonly authEvents: Counter<string>,
    private readonly streamTokens: StreamTokenService,
    private readonly em: EntityManager,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;
    const req = context.switchToHttp().getRequest<{
      query?: Record<string, unknown>;
      params?: Record<string, string>;
      user?: AuthUser;
    }>();
    const streamToken = req.query?.stream_token;
    if (
      typeof streamToken === 'string' &&
      this.reflector.get<boolean>(STREAM_TOKEN_ROUTE_KEY, context.getHandler())
    ) {
      const claims = this.streamTokens.verify(streamToken, req.params?.sessionId ?? '');
      if (!claims) {
        this.authEvents.inc({ action: 'access', outcome: 'failure' });
        throw new InvalidAccessTokenError(
          'The stream token is invalid, expired or for another session',
        );
      }
      req.user = { id: claims.userId };
    } else {
      // Passport's verdict; a bad token throws (handleRequest below).
      if (!(await super.canActivate(context))) return false;
    }
    const userId = req.user?.id;
    if (userId && this.accountProvenByRoute(context)) return true;
    if (!userId || !(await accountExists(this.em, userId))) {
      this.authEvents.inc({ action: 'access', outcome: 'failure' });
      throw new InvalidAccessTokenError('The account of this token no longer exists');
    }
    return true;
  }

  /** A guard of the route checks the account with its own owner-scoped query (ProvesAccount). */
  private accountProvenByRoute(context: ExecutionContext): boolean {
    const guards = [
      ...(this.reflector.get<unknown[] | undefined>(GUARDS_METADATA, context.getHandler()) ?? []),
      ...(this.reflector.get<unknown[] | undefined>(GUARDS_METADATA, context.getClass()) ?? []),
    ];
    return guards.some(provesAccount);
  }

  override handleRequest<T = AuthUser>(error: unknown, user: T | false): T {
    if (error || !user) {
      this.authEvents.inc({ action: 'access', outcome: 'failure' });
      throw new InvalidAccessTokenError();
    }
    return user;
  }
}
