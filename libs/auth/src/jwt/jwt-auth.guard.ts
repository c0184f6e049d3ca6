import { type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { IS_PUBLIC_KEY } from '@codelab/platform';
import { AUTH_EVENTS } from '../auth.metrics';
import { InvalidAccessTokenError } from '../auth.errors';
import { type AuthUser } from './auth-user';
import { StreamTokenService } from './stream-token.service';
import { STREAM_TOKEN_ROUTE_KEY } from './stream-token-route.decorator';

/** Global guard (APP_GUARD): every route needs a valid access token unless marked @Public(). */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    @InjectMetric(AUTH_EVENTS) private readonly authEvents: Counter<string>,
    private readonly streamTokens: StreamTokenService,
  ) {
    super();
  }

  override canActivate(context: ExecutionContext) {
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
      return true;
    }
    return super.canActivate(context);
  }

  override handleRequest<T = AuthUser>(error: unknown, user: T | false): T {
    if (error || !user) {
      this.authEvents.inc({ action: 'access', outcome: 'failure' });
      throw new InvalidAccessTokenError();
    }
    return user;
  }
}
