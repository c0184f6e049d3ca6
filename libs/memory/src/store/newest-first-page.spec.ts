import { randomUUID } from 'node:crypto';
import {
  newestFirst,
  newestFirstPage,
  type NewestFirstSource,
  type Timed,
} from './newest-first-page';

/** A deterministic pseudo-random sequence (LCG), so a failure reproduces. */
function sequence(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/**
 * Items in memory, answered the way Qdrant answers: `newest` orders by time only (ties come in
 * id-ascending order, the opposite of the wanted one), `at` in no particular order. Counts the
 * calls so the tests see how much a page costs.
 */
function source(items: Timed[]): NewestFirstSource<Timed> & { calls: number } {
  const byTimeOnly = (a: Timed, b: Timed) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1);
  return {
    calls: 0,
    async newest(limit, before) {
      this.calls++;
      return items
        .filter((i) => before === undefined || i.createdAt < before)
        .sort(byTimeOnly)
        .slice(0, limit);
    },
    async at(createdAt) {
      this.calls++;
      return items.filter((i) => i.createdAt === createdAt).reverse();
    },
  };
}

async function pageAll(items: Timed[], size: number): Promise<string[]> {
  const src = source(items);
  const seen: string[] = [];
  let cursor: Timed | undefined;
  for (let pages = 0; pages <= items.length + 1; pages++) {
    const { items: page, more } = await newestFirstPage(src, size, cursor);
    seen.push(...page.map((i) => i.id));
    if (!more) return seen;
    cursor = page.at(-1);
  }
  throw new Error('paging did not end');
}

describe('newestFirstPage (keyset paging by created_at, id over a time-ordered store)', () => {
  it('pages in (created_at DESC, id DESC) order, every item once, whatever the ties and page size', async () => {
    const random = sequence(42);
    for (let round = 0; round < 40; round++) {
      // Few distinct instants, so ties are common, at the cursor and at page edges.
      const instants = 1 + Math.floor(random() * 6);
      const items = Array.from({ length: Math.floor(random() * 25) }, () => ({
        id: randomUUID(),
        createdAt: 1_700_000_000_000 + Math.floor(random() * instants) * 1000,
      }));
      const expected = [...items].sort(newestFirst).map((i) => i.id);
      for (const size of [1, 2, 3, 5, 8, 30]) {
        expect({ round, size, ids: await pageAll(items, size) }).toEqual({
          round,
          size,
          ids: expected,
        });
      }
    }
  });

  it('says no more items exactly when the last page is full and nothing follows', async () => {
    const items = [1, 2, 3, 4].map((n) => ({ id: randomUUID(), createdAt: n }));
    const full = await newestFirstPage(source(items), 4);
    expect(full.items.map((i) => i.createdAt)).toEqual([4, 3, 2, 1]);
    expect(full.more).toBe(false);
    const partial = await newestFirstPage(source(items), 3);
    expect(partial.more).toBe(true);
    expect(await newestFirstPage(source([]), 3)).toEqual({ items: [], more: false });
  });

  it('accepts an upper-case id in the cursor (cursors are case-insensitive uuids)', async () => {
    const items = ['a', 'b', 'c'].map((c) => ({
      id: `${c.repeat(8)}-0000-4000-8000-000000000000`,
      createdAt: 5,
    }));
    const [first] = (await newestFirstPage(source(items), 1)).items;
    expect(first.id).toBe(items[2].id);
    const next = await newestFirstPage(source(items), 1, { ...first, id: first.id.toUpperCase() });
    expect(next.items.map((i) => i.id)).toEqual([items[1].id]);
  });

  it('costs one ordered read per page when the page ends on a timestamp of its own', async () => {
    const src = source([1, 2, 3, 4, 5].map((n) => ({ id: randomUUID(), createdAt: n })));
    await newestFirstPage(src, 10);
    expect(src.calls).toBe(1);
  });
});
