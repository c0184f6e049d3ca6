import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiProblemResponses, AuthRateLimit, Public } from '@codelab/platform';
import { UsersService } from '@codelab/users';
import { InvalidAccessTokenError } from '../auth.errors';
import { AuthService, toUserDto } from '../auth.service';
import {
  AuthSessionDto,
  AuthTokensDto,
  LoginDto,
  RefreshTokenDto,
  RegisterDto,
  UserDto,
} from '../dto/auth.dto';
import { type AuthUser, CurrentUser } from '../jwt/auth-user';

@ApiTags('auth')
@Controller('v1/auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @ApiOperation({ summary: 'Create an account' })
  @Public()
  @AuthRateLimit()
  @Post('register')
  @ApiCreatedResponse({
    type: AuthSessionDto,
    description: 'Account created; the caller is logged in',
  })
  @ApiProblemResponses(400, 409, 413, 429)
  register(@Body() body: RegisterDto): Promise<AuthSessionDto> {
    return this.auth.register(body.email, body.password);
  }

  @ApiOperation({ summary: 'Log in' })
  @Public()
  @AuthRateLimit()
  @Post('login')
  @HttpCode(200)
  @ApiOkResponse({ type: AuthSessionDto })
  @ApiProblemResponses(400, 401, 429)
  login(@Body() body: LoginDto): Promise<AuthSessionDto> {
    return this.auth.login(body.email, body.password);
  }

  @ApiOperation({ summary: 'Exchange a refresh token for new tokens' })
  @Public()
  @AuthRateLimit()
  @Post('refresh')
  @HttpCode(200)
  @ApiOkResponse({
    type: AuthTokensDto,
    description: 'A new access token and the rotated refresh token',
  })
  @ApiProblemResponses(400, 401, 429)
  refresh(@Body() body: RefreshTokenDto): Promise<AuthTokensDto> {
    return this.auth.refresh(body.refresh_token);
  }

  @ApiOperation({ summary: 'Revoke a refresh token' })
  @Public()
  @Post('logout')
  @HttpCode(204)
  @ApiNoContentResponse({
    description: 'The refresh token and every token of its family are revoked',
  })
  @ApiProblemResponses(400, 429)
  async logout(@Body() body: RefreshTokenDto): Promise<void> {
    await this.auth.logout(body.refresh_token);
  }
}

@ApiTags('auth')
@ApiBearerAuth('bearer')
@Controller('v1/me')
export class MeController {
  constructor(private readonly users: UsersService) {}

  @ApiOperation({ summary: 'The signed-in user' })
  @Get()
  @ApiOkResponse({ type: UserDto })
  @ApiProblemResponses(401, 429)
  async me(@CurrentUser() caller: AuthUser): Promise<UserDto> {
    const user = await this.users.findById(caller.id);
    // The guard refuses a deleted account's tokens; this is the account deleted since then.
    if (!user) throw new InvalidAccessTokenError('The account of this token no longer exists');
    return toUserDto(user);
  }
}
