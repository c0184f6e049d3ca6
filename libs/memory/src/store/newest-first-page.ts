/** A stored item's position in the (created_at DESC, id DESC) order every memory list uses. */
export interface Timed {
  id: string;
  /** Epoch milliseconds. */
  createdAt: number;
}

/**
 * What a store that can only order by `created_at` (Qdrant's `order_by`, which has no tie-breaker
 * and no cursor of its own) must answer for newestFirstPage to page by (created_at, id).
 */
export interface NewestFirstSource<T extends Timed> {
  /** Up to `limit` items created strictly before `before` (all when undefined), newest first. */
  newest(limit: number, before?: number): Promise<T[]>;
  /** Every item created exactly at `createdAt`. */
  at(createdAt: number): Promise<T[]>;
}

/** (created_at DESC, id DESC), as PostgreSQL orders uuids: by their lower-case hex. */
export const newestFirst = (a: Timed, b: Timed): number =>
  b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/**
 * One page of `limit` items after `cursor` in (created_at DESC, id DESC) order, the order of the
 * PostgreSQL store, and whether more follow. Items sharing a timestamp are ordered by id here,
 * so ties at the cursor or at the page's edge are fetched whole (they are rare: millisecond
 * timestamps of one agent's memories).
 */
export async function newestFirstPage<T extends Timed>(
  source: NewestFirstSource<T>,
  limit: number,
  cursor?: Timed,
): Promise<{ items: T[]; more: boolean }> {
  const after = cursor ? { createdAt: cursor.createdAt, id: cursor.id.toLowerCase() } : undefined;
  const candidates: T[] = [];
  // The cursor's own timestamp: what follows it by id.
  if (after)
    candidates.push(...(await source.at(after.createdAt)).filter((i) => newestFirst(after, i) < 0));
  // One more than a page tells whether more follow.
  const wanted = limit + 1 - candidates.length;
  if (wanted > 0) {
    const older = await source.newest(wanted, after?.createdAt);
    const edge = older.at(-1)?.createdAt;
    if (older.length === wanted && edge !== undefined) {
      // The oldest timestamp on the page may have more items than fit: take them all.
      candidates.push(...older.filter((i) => i.createdAt !== edge), ...(await source.at(edge)));
    } else {
      candidates.push(...older);
    }
  }
  candidates.sort(newestFirst);
  return { items: candidates.slice(0, limit), more: candidates.length > limit };
}
