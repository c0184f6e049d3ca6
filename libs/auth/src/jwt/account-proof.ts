import type { EntityManager } from '@mikro-orm/postgresql';
import { User } from '@codelab/users';

/**
 * A route guard that loads what the route touches by id AND the caller as owner proves, when it
 * finds it, that the caller's account still exists (owned rows are deleted with the account). It
 * says so with a static `provesAccount = true`; the JWT guard then leaves the account lookup to it
 * (one query per request instead of two), and on a miss it must tell a deleted account (401) from
 * a missing resource (404) with `accountExists`.
 */
export interface ProvesAccount {
  readonly provesAccount: true;
}

export const provesAccount = (guard: unknown): boolean =>
  typeof guard === 'function' && (guard as Partial<ProvesAccount>).provesAccount === true;

export async function accountExists(em: EntityManager, userId: string): Promise<boolean> {
  return (await em.count(User, { id: userId })) > 0;
}
