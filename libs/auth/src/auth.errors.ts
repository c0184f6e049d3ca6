import { DomainError } from '@codelab/platform';

export class InvalidCredentialsError extends DomainError {
  readonly code = 'INVALID_CREDENTIALS';
  readonly kind = 'unauthenticated' as const;
  constructor() {
    super('Email or password is incorrect');
  }
}

export class InvalidAccessTokenError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  readonly kind = 'unauthenticated' as const;
  constructor(reason = 'A valid bearer access token is required') {
    super(reason);
  }
}

export class InvalidRefreshTokenError extends DomainError {
  readonly code = 'INVALID_REFRESH_TOKEN';
  readonly kind = 'unauthenticated' as const;
  constructor() {
    super('The refresh token is invalid, expired or revoked');
  }
}

export class RefreshTokenReusedError extends DomainError {
  readonly code = 'REFRESH_TOKEN_REUSED';
  readonly kind = 'unauthenticated' as const;
  constructor() {
    super('This refresh token was already used; every session issued from it has been revoked');
  }
}
