import type { SchemaObject } from '@nestjs/swagger';

/** class-transformer: trims strings, leaves anything else for the validators to refuse. */
export const trimString = ({ value }: { value: unknown }) =>
  typeof value === 'string' ? value.trim() : value;

/**
 * class-validator ValidateIf: validate whenever the field was sent. Unlike IsOptional, null is
 * validated (and refused by the type check), so "absent" and "null" never mean the same thing.
 */
export const isPresent = (_: unknown, value: unknown) => value !== undefined;

/**
 * For @ApiProperty: any JSON value or null (a task's result may be text, a number, an object...).
 * OpenAPI 3.0 has no "any" type and no `nullable` without a `type`: one of every JSON type says
 * it (null through the object branch), and keeps the generator from inferring `object`.
 */
export const JSON_VALUE_OR_NULL: { oneOf: SchemaObject[] } = {
  oneOf: [
    { type: 'object', nullable: true },
    { type: 'array', items: {} },
    { type: 'string' },
    { type: 'number' },
    { type: 'boolean' },
  ],
};
