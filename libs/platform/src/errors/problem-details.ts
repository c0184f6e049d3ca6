import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The stable error codes the HTTP edge emits on its own (feature codes come from DomainErrors). */
export const HTTP_ERROR_CODES: Record<number, { code: string; title: string }> = {
  400: { code: 'BAD_REQUEST', title: 'Bad Request' },
  401: { code: 'UNAUTHENTICATED', title: 'Unauthorized' },
  403: { code: 'FORBIDDEN', title: 'Forbidden' },
  404: { code: 'NOT_FOUND', title: 'Not Found' },
  405: { code: 'METHOD_NOT_ALLOWED', title: 'Method Not Allowed' },
  409: { code: 'CONFLICT', title: 'Conflict' },
  412: { code: 'PRECONDITION_FAILED', title: 'Precondition Failed' },
  413: { code: 'PAYLOAD_TOO_LARGE', title: 'Payload Too Large' },
  415: { code: 'UNSUPPORTED_MEDIA_TYPE', title: 'Unsupported Media Type' },
  422: { code: 'UNPROCESSABLE', title: 'Unprocessable Content' },
  429: { code: 'RATE_LIMITED', title: 'Too Many Requests' },
  500: { code: 'INTERNAL', title: 'Internal Server Error' },
  503: { code: 'UNAVAILABLE', title: 'Service Unavailable' },
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://codelab.dev/problems/';

export class FieldErrorDto {
  @ApiProperty({ example: 'email' })
  field!: string;

  @ApiProperty({ example: ['email must be an email'], type: [String] })
  messages!: string[];
}

/** RFC 9457 problem document, plus a stable `code` and the request id. */
export class ProblemDto {
  @ApiProperty({ example: 'https://codelab.dev/problems/validation-failed' })
  type!: string;

  @ApiProperty({ example: 'Bad Request' })
  title!: string;

  @ApiProperty({ example: 400 })
  status!: number;

  @ApiProperty({ example: 'Request validation failed' })
  detail!: string;

  @ApiProperty({ example: '/v1/my/projects' })
  instance!: string;

  @ApiProperty({ example: 'VALIDATION_FAILED' })
  code!: string;

  @ApiProperty({ example: '6f1c1f5e-8a8e-4c55-9d0a-4f8e0b8f6a11' })
  request_id!: string;

  @ApiPropertyOptional({ type: [FieldErrorDto] })
  errors?: FieldErrorDto[];
}

export interface ProblemInit {
  status: number;
  code?: string;
  title?: string;
  detail: string;
  instance: string;
  requestId: string;
  extra?: Record<string, unknown>;
}

export function buildProblem(init: ProblemInit): Record<string, unknown> {
  const known = HTTP_ERROR_CODES[init.status];
  const code = init.code ?? known?.code ?? (init.status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
  return {
    // Extensions first: they can never override the standard members.
    ...init.extra,
    type: PROBLEM_TYPE_BASE + code.toLowerCase().replace(/_/g, '-'),
    title: init.title ?? known?.title ?? 'Error',
    status: init.status,
    detail: init.detail,
    instance: init.instance,
    code,
    request_id: init.requestId,
  };
}
