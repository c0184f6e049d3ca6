export { AuthModule } from './auth.module';
export { RefreshToken } from './entities/refresh-token.entity';
export { type AuthUser, CurrentUser } from './jwt/auth-user';
export { JwtAuthGuard } from './jwt/jwt-auth.guard';
export { AccessTokenService } from './jwt/access-token.service';
export { STREAM_TOKEN_TTL_SECONDS, StreamTokenService } from './jwt/stream-token.service';
export { AcceptsStreamToken } from './jwt/stream-token-route.decorator';
export { accountExists, type ProvesAccount } from './jwt/account-proof';
export { InvalidAccessTokenError } from './auth.errors';
