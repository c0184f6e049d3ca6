import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { type User, UsersService } from '@codelab/users';
import { AUTH_EVENTS, type AuthAction, type AuthOutcome } from './auth.metrics';
import { InvalidCredentialsError, RefreshTokenReusedError } from './auth.errors';
import { AccessTokenService } from './jwt/access-token.service';
import {
  RefreshTokenService,
  type IssuedRefreshToken,
} from './refresh-tokens/refresh-token.service';
import { type AuthSessionDto, type AuthTokensDto, type UserDto } from './dto/auth.dto';

export function toUserDto(user: User): UserDto {
  return { id: user.id, email: user.email, created_at: user.createdAt.toISOString() };
}

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly accessTokens: AccessTokenService,
    private readonly refreshTokens: RefreshTokenService,
    @InjectMetric(AUTH_EVENTS) private readonly events: Counter<string>,
  ) {}

  async register(email: string, password: string): Promise<AuthSessionDto> {
    const user = await this.track('register', () => this.users.register(email, password));
    return { ...this.tokens(await this.refreshTokens.issue(user.id)), user: toUserDto(user) };
  }

  async login(email: string, password: string): Promise<AuthSessionDto> {
    const user = await this.track('login', async () => {
      const found = await this.users.verifyCredentials(email, password);
      if (!found) throw new InvalidCredentialsError();
      return found;
    });
    return { ...this.tokens(await this.refreshTokens.issue(user.id)), user: toUserDto(user) };
  }

  async refresh(refreshToken: string): Promise<AuthTokensDto> {
    const rotated = await this.track('refresh', () => this.refreshTokens.rotate(refreshToken));
    return this.tokens(rotated);
  }

  async logout(refreshToken: string): Promise<void> {
    await this.track('logout', () => this.refreshTokens.revoke(refreshToken));
  }

  private tokens(refresh: IssuedRefreshToken): AuthTokensDto {
    const access = this.accessTokens.issue(refresh.userId);
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: refresh.token,
      refresh_expires_at: refresh.expiresAt.toISOString(),
    };
  }

  private async track<T>(action: AuthAction, work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      this.events.inc({ action, outcome: 'success' satisfies AuthOutcome });
      return result;
    } catch (error) {
      const outcome: AuthOutcome =
        error instanceof RefreshTokenReusedError ? 'reuse_detected' : 'failure';
      this.events.inc({ action, outcome });
      throw error;
    }
  }
}
