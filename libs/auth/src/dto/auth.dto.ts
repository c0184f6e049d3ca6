import { ApiProperty } from '@nestjs/swagger';
import { IsEmail, IsString, MaxLength, MinLength } from 'class-validator';

export class RegisterDto {
  @ApiProperty({ example: 'ada@example.com', maxLength: 320 })
  @IsEmail()
  @MaxLength(320)
  email!: string;

  @ApiProperty({ example: 'correct horse battery staple', minLength: 8, maxLength: 128 })
  @IsString()
  @MinLength(8)
  @MaxLength(128)
  password!: string;
}

export class LoginDto {
  @ApiProperty({ example: 'ada@example.com' })
  @IsString()
  @MaxLength(320)
  email!: string;

  @ApiProperty({ example: 'correct horse battery staple' })
  @IsString()
  @MaxLength(128)
  password!: string;
}

export class RefreshTokenDto {
  @ApiProperty({
    example: 'hY3c0x8mQxk2oV3fWq2t0J3bM1Q2s7dK9aPz4L6nR8E',
    description: 'Opaque refresh token',
  })
  @IsString()
  @MinLength(1)
  @MaxLength(256)
  refresh_token!: string;
}

export class UserDto {
  @ApiProperty({ example: '3f0f6a52-5c0e-4bb3-9f0e-5b0f2b0d2d11', format: 'uuid' })
  id!: string;

  @ApiProperty({ example: 'ada@example.com' })
  email!: string;

  @ApiProperty({ example: '2026-11-21T12:00:00.000Z', format: 'date-time' })
  created_at!: string;
}

export class AuthTokensDto {
  @ApiProperty({
    example: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...',
    description: 'JWT access token',
  })
  access_token!: string;

  @ApiProperty({ example: 'Bearer' })
  token_type!: 'Bearer';

  @ApiProperty({ example: 900, description: 'Access token lifetime in seconds' })
  expires_in!: number;

  @ApiProperty({
    example: 'hY3c0x8mQxk2oV3fWq2t0J3bM1Q2s7dK9aPz4L6nR8E',
    description: 'Opaque, single-use refresh token',
  })
  refresh_token!: string;

  @ApiProperty({ example: '2026-12-21T12:00:00.000Z', format: 'date-time' })
  refresh_expires_at!: string;
}

export class AuthSessionDto extends AuthTokensDto {
  @ApiProperty({ type: UserDto })
  user!: UserDto;
}
