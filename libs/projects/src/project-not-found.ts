import { ResourceNotFoundError } from '@codelab/platform';
import type { Counter } from 'prom-client';

/** Missing and foreign projects are one answer; both count as an isolation denial. */
export function projectNotFound(denials: Counter<string>): ResourceNotFoundError {
  denials.inc({ resource: 'project' });
  return new ResourceNotFoundError('Project');
}
