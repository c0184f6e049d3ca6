import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from '../errors/problem-details';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (validation errors list the fields), malformed JSON or a bad id',
  401: 'Missing, expired or invalid credentials',
  404: 'Not found (also for resources that belong to another user)',
  403: 'Refused: the path leads outside the workspace',
  409: 'Conflicts with the current state',
  412: 'If-Match / If-None-Match did not hold; nothing was changed',
  413: 'Request body over the size limit',
  422: 'Well-formed but unprocessable',
  429: 'Rate limited; see Retry-After',
};

/** Documents the problem+json error responses a route can give. */
export function ApiProblemResponses(...statuses: number[]) {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'Error',
        content: {
          [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDto' } },
        },
      }),
    ),
  );
}
