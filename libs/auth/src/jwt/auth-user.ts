import { createParamDecorator, type ExecutionContext } from '@nestjs/common';

/** The authenticated caller, as established by the JWT guard. */
export interface AuthUser {
  id: string;
}

/** Injects the authenticated caller into a handler. */
export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthUser => {
  return ctx.switchToHttp().getRequest<{ user: AuthUser }>().user;
});
