import { SetMetadata } from '@nestjs/common';

export const STREAM_TOKEN_ROUTE_KEY = 'codelab:streamTokenRoute';

/** The one kind of route where `?stream_token=` is accepted instead of a bearer token. */
export const AcceptsStreamToken = () => SetMetadata(STREAM_TOKEN_ROUTE_KEY, true);
