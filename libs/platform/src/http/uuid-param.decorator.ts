import { Param, ParseUUIDPipe } from '@nestjs/common';
import { RequestValidationError } from '../errors/request-validation.error';

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function invalidUuidError(name: string): RequestValidationError {
  return new RequestValidationError([{ field: name, messages: [`${name} must be a UUID`] }]);
}

/** A path parameter that must be a UUID; anything else is a 400 problem, never a 500. */
export const UuidParam = (name: string) =>
  Param(name, new ParseUUIDPipe({ exceptionFactory: () => invalidUuidError(name) }));
