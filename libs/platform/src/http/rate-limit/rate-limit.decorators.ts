import { SetMetadata } from '@nestjs/common';

export const AUTH_RATE_LIMIT_KEY = 'codelab:authRateLimit';

/** Adds the stricter `auth` throttler (per IP) to credential endpoints such as login. */
export const AuthRateLimit = () => SetMetadata(AUTH_RATE_LIMIT_KEY, true);
