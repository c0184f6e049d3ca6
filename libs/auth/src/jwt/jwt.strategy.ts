import { createSecretKey } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { ACCESS_TOKEN_ALGORITHM } from './access-token.service';
import { type AuthUser } from './auth-user';

interface AccessTokenClaims {
  sub?: unknown;
  iat?: unknown;
  exp?: unknown;
  typ?: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Verifies access tokens: signature with the one allowed algorithm, `iss`, `aud`, `exp` (with a
 * small clock tolerance), and that `sub`, `iat`, `exp` and the access type are all present.
 * A token also has a maximum age, whatever its `exp` says: it is refused once its `iat` is older
 * than the access TTL (plus the tolerance), when it claims a lifetime (`exp - iat`) longer than
 * that, or when it was issued in the future. Whether its user still exists is the guard's check.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  private readonly maxLifetimeSeconds: number;
  private readonly toleranceSeconds: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // A KeyObject, built once: given a string, jsonwebtoken first tries (and fails) to parse it
      // as a public key on every verification. It accepts a KeyObject; passport-jwt's types lag.
      secretOrKey: createSecretKey(Buffer.from(config.jwt.secret)) as unknown as Buffer,
      algorithms: [ACCESS_TOKEN_ALGORITHM],
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      ignoreExpiration: false,
      jsonWebTokenOptions: {
        clockTolerance: config.jwt.clockToleranceSeconds,
        // Refused once now >= iat + maxAge + clockTolerance, whatever `exp` says.
        maxAge: config.jwt.accessTtlSeconds,
      },
    });
    this.maxLifetimeSeconds = config.jwt.accessTtlSeconds + config.jwt.clockToleranceSeconds;
    this.toleranceSeconds = config.jwt.clockToleranceSeconds;
  }

  validate(claims: AccessTokenClaims): AuthUser | false {
    const complete =
      typeof claims.sub === 'string' &&
      UUID.test(claims.sub) &&
      typeof claims.iat === 'number' &&
      typeof claims.exp === 'number' &&
      claims.typ === 'access';
    if (!complete) return false;
    const iat = claims.iat as number;
    const now = Math.floor(Date.now() / 1000);
    if ((claims.exp as number) - iat > this.maxLifetimeSeconds) return false;
    if (iat > now + this.toleranceSeconds) return false;
    return { id: claims.sub as string };
  }
}
