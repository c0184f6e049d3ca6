/** class-transformer: trims strings, leaves anything else for the validators to refuse. */
export const trimString = ({ value }: { value: unknown }) =>
  typeof value === 'string' ? value.trim() : value;

/**
 * class-validator ValidateIf: validate whenever the field was sent. Unlike IsOptional, null is
 * validated (and refused by the type check), so "absent" and "null" never mean the same thing.
 */
export const isPresent = (_: unknown, value: unknown) => value !== undefined;
