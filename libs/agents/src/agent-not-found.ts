import { ResourceNotFoundError } from '@codelab/platform';
import type { Counter } from 'prom-client';

/** Missing and foreign agents are one answer; both count as an isolation denial. */
export function agentNotFound(denials: Counter<string>): ResourceNotFoundError {
  denials.inc({ resource: 'agent' });
  return new ResourceNotFoundError('Agent');
}
