import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { UsersModule } from '@codelab/users';
import { authMetricProviders } from './auth.metrics';
import { AuthService } from './auth.service';
import { AuthController, MeController } from './http/auth.controller';
import { AccessTokenService } from './jwt/access-token.service';
import { JwtAuthGuard } from './jwt/jwt-auth.guard';
import { JwtStrategy } from './jwt/jwt.strategy';
import { StreamTokenService } from './jwt/stream-token.service';
import { RefreshTokenService } from './refresh-tokens/refresh-token.service';

/**
 * Registration, login, token rotation, and the JWT guard. The guard is exported, not registered:
 * the app registers it as APP_GUARD before the rate-limit guard, so limits know the user.
 */
@Module({
  imports: [UsersModule, PassportModule, JwtModule.register({})],
  controllers: [AuthController, MeController],
  providers: [
    AuthService,
    AccessTokenService,
    StreamTokenService,
    RefreshTokenService,
    JwtStrategy,
    JwtAuthGuard,
    ...authMetricProviders,
  ],
  exports: [JwtAuthGuard, AccessTokenService, StreamTokenService, ...authMetricProviders],
})
export class AuthModule {}
