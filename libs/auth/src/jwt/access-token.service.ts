import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';

export const ACCESS_TOKEN_ALGORITHM = 'HS256';

export interface IssuedAccessToken {
  token: string;
  expiresIn: number;
}

@Injectable()
export class AccessTokenService {
  constructor(
    private readonly jwt: JwtService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  issue(userId: string): IssuedAccessToken {
    const { secret, issuer, audience, accessTtlSeconds } = this.config.jwt;
    const token = this.jwt.sign(
      { typ: 'access' },
      {
        secret,
        algorithm: ACCESS_TOKEN_ALGORITHM,
        subject: userId,
        issuer,
        audience,
        expiresIn: accessTtlSeconds,
        jwtid: randomUUID(),
      },
    );
    return { token, expiresIn: accessTtlSeconds };
  }
}
