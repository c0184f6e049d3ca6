import type { EntityManager, EntityName, FilterQuery } from '@mikro-orm/core';
import { decodeCreatedAtCursor, encodeCreatedAtCursor } from '../http/keyset-cursor';

export interface KeysetPage<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * One page of `entity` rows matching `where`, ordered by (created_at, id) in `direction`, after
 * the opaque `cursor`. One query (limit + 1 rows tells whether more exist); rows are read-only, so
 * they stay out of the identity map. Callers put the owner in `where`.
 */
export async function findKeysetPage<T extends { id: string; createdAt: Date }>(
  em: EntityManager,
  entity: EntityName<T>,
  where: FilterQuery<T>,
  options: { limit: number; cursor?: string; direction: 'asc' | 'desc' },
): Promise<KeysetPage<T>> {
  const { limit, cursor, direction } = options;
  let filter = where;
  if (cursor) {
    const after = decodeCreatedAtCursor(cursor);
    const beyond = direction === 'desc' ? '$lt' : '$gt';
    filter = {
      $and: [
        where,
        {
          $or: [
            { createdAt: { [beyond]: after.createdAt } },
            { createdAt: after.createdAt, id: { [beyond]: after.id } },
          ],
        },
      ],
    } as FilterQuery<T>;
  }
  const rows = await em.find(entity, filter, {
    orderBy: { createdAt: direction, id: direction } as never,
    limit: limit + 1,
    disableIdentityMap: true,
  });
  const items = rows.slice(0, limit) as T[];
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCreatedAtCursor(last) : null };
}
