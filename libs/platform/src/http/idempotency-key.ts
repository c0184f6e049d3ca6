import { ApiHeader } from '@nestjs/swagger';
import { RequestValidationError } from '../errors/request-validation.error';

const PATTERN = '^[A-Za-z0-9._:-]{1,255}$';
const IDEMPOTENCY_KEY = new RegExp(PATTERN);

/** Documents the optional `Idempotency-Key` header of a route, with the form it must have. */
export const ApiIdempotencyKey = (description: string) =>
  ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description,
    schema: { type: 'string', pattern: PATTERN, maxLength: 255 },
  });

/** The header's value, or a 400 naming it when it is not 1-255 characters of [A-Za-z0-9._:-]. */
export function idempotencyKeyOf(raw: string | undefined): string | undefined {
  if (raw === undefined || IDEMPOTENCY_KEY.test(raw)) return raw;
  throw new RequestValidationError([
    { field: 'Idempotency-Key', messages: ['must be 1-255 characters of [A-Za-z0-9._:-]'] },
  ]);
}
