import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { RefreshToken } from '../entities/refresh-token.entity';
import { InvalidRefreshTokenError, RefreshTokenReusedError } from '../auth.errors';

export interface IssuedRefreshToken {
  token: string;
  expiresAt: Date;
  userId: string;
}

const hashToken = (raw: string) => createHash('sha256').update(raw).digest('hex');

/**
 * Opaque refresh tokens: 256 random bits handed to the client once, stored only as a hash,
 * rotated on every use. A rotated token presented again means it leaked (or the client is
 * confused): the whole family is revoked.
 */
@Injectable()
export class RefreshTokenService {
  constructor(
    private readonly em: EntityManager,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Starts a new family (a login). */
  async issue(userId: string): Promise<IssuedRefreshToken> {
    const { entity, token } = this.build(userId, randomUUID());
    await this.em.persist(entity).flush();
    return { token, expiresAt: entity.expiresAt, userId };
  }

  /** Exchanges a valid token for its successor; detects reuse of rotated tokens. */
  async rotate(rawToken: string): Promise<IssuedRefreshToken> {
    const current = await this.em.findOne(RefreshToken, { tokenHash: hashToken(rawToken) });
    if (!current) throw new InvalidRefreshTokenError();
    if (current.revokedAt) {
      if (current.revokedReason === 'rotated') {
        await this.revokeFamily(current.familyId, 'reuse_detected');
        throw new RefreshTokenReusedError();
      }
      throw new InvalidRefreshTokenError();
    }
    if (current.expiresAt.getTime() <= Date.now()) throw new InvalidRefreshTokenError();

    const userId = current.user.id;
    const { entity: next, token } = this.build(userId, current.familyId);
    // The conditional update lets exactly one of two concurrent rotations win; the loser is
    // indistinguishable from a replay and is treated as one.
    const won = await this.em.transactional(async (tx) => {
      const updated = await tx.nativeUpdate(
        RefreshToken,
        { id: current.id, revokedAt: null },
        { revokedAt: new Date(), revokedReason: 'rotated', replacedById: next.id },
      );
      if (updated !== 1) return false;
      tx.persist(next);
      return true;
    });
    if (!won) {
      await this.revokeFamily(current.familyId, 'reuse_detected');
      throw new RefreshTokenReusedError();
    }
    return { token, expiresAt: next.expiresAt, userId };
  }

  /** Logout: revokes the token's family. Unknown tokens are ignored (logout is idempotent). */
  async revoke(rawToken: string): Promise<boolean> {
    const current = await this.em.findOne(RefreshToken, { tokenHash: hashToken(rawToken) });
    if (!current) return false;
    await this.revokeFamily(current.familyId, 'logout');
    return true;
  }

  private async revokeFamily(familyId: string, reason: string): Promise<void> {
    await this.em.nativeUpdate(
      RefreshToken,
      { familyId, revokedAt: null },
      { revokedAt: new Date(), revokedReason: reason },
    );
  }

  private build(userId: string, familyId: string): { entity: RefreshToken; token: string } {
    const token = randomBytes(32).toString('base64url');
    const entity = this.em.create(RefreshToken, {
      user: userId,
      familyId,
      tokenHash: hashToken(token),
      expiresAt: new Date(Date.now() + this.config.jwt.refreshTtlSeconds * 1000),
    });
    return { entity, token };
  }
}
