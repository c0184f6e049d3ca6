import { type ValidationError } from 'class-validator';
import { DomainError } from './domain-error';

export interface FieldError {
  field: string;
  messages: string[];
}

/** Input that failed DTO validation; lists every offending field by its JSON path. */
export class RequestValidationError extends DomainError {
  readonly code = 'VALIDATION_FAILED';
  readonly kind = 'invalid' as const;

  constructor(readonly errors: FieldError[]) {
    super('Request validation failed', { errors });
  }

  static fromClassValidator(errors: ValidationError[]): RequestValidationError {
    const out: FieldError[] = [];
    const walk = (list: ValidationError[], prefix: string) => {
      for (const e of list) {
        const field = prefix ? `${prefix}.${e.property}` : e.property;
        if (e.constraints) out.push({ field, messages: Object.values(e.constraints) });
        if (e.children?.length) walk(e.children, field);
      }
    };
    walk(errors, '');
    return new RequestValidationError(out);
  }
}
