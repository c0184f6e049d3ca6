import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { ACCESS_TOKEN_ALGORITHM } from './access-token.service';

export const STREAM_TOKEN_TTL_SECONDS = 60;

export interface StreamTokenClaims {
  userId: string;
  sessionId: string;
}

/**
 * Short-lived, single-purpose tokens for EventSource (which cannot send headers): scoped to one
 * user and one session, a different audience and type from access tokens, so they are refused
 * everywhere except the session's event stream.
 */
@Injectable()
export class StreamTokenService {
  constructor(
    private readonly jwt: JwtService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private get audience(): string {
    return `${this.config.jwt.audience}:stream`;
  }

  issue(userId: string, sessionId: string): { token: string; expiresAt: Date } {
    const token = this.jwt.sign(
      { typ: 'stream', sid: sessionId },
      {
        secret: this.config.jwt.secret,
        algorithm: ACCESS_TOKEN_ALGORITHM,
        subject: userId,
        issuer: this.config.jwt.issuer,
        audience: this.audience,
        expiresIn: STREAM_TOKEN_TTL_SECONDS,
        jwtid: randomUUID(),
      },
    );
    return { token, expiresAt: new Date(Date.now() + STREAM_TOKEN_TTL_SECONDS * 1000) };
  }

  /** The claims when the token is valid for `sessionId`, otherwise null. */
  verify(token: string, sessionId: string): StreamTokenClaims | null {
    try {
      const claims = this.jwt.verify<{
        sub?: unknown;
        sid?: unknown;
        typ?: unknown;
        exp?: unknown;
      }>(token, {
        secret: this.config.jwt.secret,
        algorithms: [ACCESS_TOKEN_ALGORITHM],
        issuer: this.config.jwt.issuer,
        audience: this.audience,
        clockTolerance: this.config.jwt.clockToleranceSeconds,
      });
      if (
        claims.typ !== 'stream' ||
        typeof claims.sub !== 'string' ||
        claims.sid !== sessionId ||
        typeof claims.exp !== 'number'
      )
        return null;
      return { userId: claims.sub, sessionId };
    } catch {
      return null;
    }
  }
}
