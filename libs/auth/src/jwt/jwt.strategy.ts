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
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
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
      jsonWebTokenOptions: { clockTolerance: config.jwt.clockToleranceSeconds },
    });
  }

  validate(claims: AccessTokenClaims): AuthUser | false {
    const complete =
      typeof claims.sub === 'string' &&
      UUID.test(claims.sub) &&
      typeof claims.iat === 'number' &&
      typeof claims.exp === 'number' &&
      claims.typ === 'access';
    return complete ? { id: claims.sub as string } : false;
  }
}
