import { randomUUID } from 'node:crypto';
import { LocalHashEmbedder } from '../embeddings/local-hash-embedder';
import { type MemoryRecord, type MemoryScope, type MemoryStore } from '../store/memory-store';

/**
 * The behaviour every MemoryStore must have. Run by the PostgreSQL store's spec always and by the
 * Qdrant store's spec when QDRANT_URL is set.
 */
export function memoryStoreContract(
  name: string,
  setUp: () => Promise<{ store: MemoryStore; tearDown: () => Promise<void> }>,
) {
  describe(`MemoryStore contract: ${name}`, () => {
    const embedder = new LocalHashEmbedder(64);
    let store: MemoryStore;
    let tearDown: () => Promise<void>;

    beforeAll(async () => {
      ({ store, tearDown } = await setUp());
    });
    afterAll(async () => {
      await tearDown();
    });

    const scope = (): MemoryScope & { projectId: string } => ({
      ownerId: randomUUID(),
      agentId: randomUUID(),
      projectId: randomUUID(),
    });

    let clock = Date.parse('2026-01-01T00:00:00Z');
    const record = async (
      s: MemoryScope & { projectId: string },
      content: string,
    ): Promise<MemoryRecord> => ({
      id: randomUUID(),
      ...s,
      content,
      metadata: { source: 'contract' },
      embedding: (await embedder.embed([content]))[0],
      embeddingModel: embedder.model,
      createdAt: new Date((clock += 1000)),
    });
    const query = async (text: string) => (await embedder.embed([text]))[0];

    it('finds the most similar memory first, with scores in [-1, 1]', async () => {
      const s = scope();
      await store.upsert([
        await record(s, 'The staging database runs PostgreSQL 16'),
        await record(s, 'Lunch is at noon on Fridays'),
        await record(s, 'Deployments go through the blue green pipeline'),
      ]);
      const hits = await store.search(
        s,
        await query('which postgresql version does staging use'),
        embedder.model,
        3,
      );
      expect(hits[0].content).toBe('The staging database runs PostgreSQL 16');
      expect(hits[0].metadata).toEqual({ source: 'contract' });
      for (const h of hits) {
        expect(h.score).toBeGreaterThanOrEqual(-1);
        expect(h.score).toBeLessThanOrEqual(1.0001);
      }
      expect(hits.map((h) => h.score)).toEqual(
        [...hits.map((h) => h.score)].sort((a, b) => (b ?? 0) - (a ?? 0)),
      );
    });

    it("never returns another agent's or another owner's memory", async () => {
      const mine = scope();
      const otherAgentSameOwner = { ...mine, agentId: randomUUID() };
      const sameAgentIdOtherOwner = { ...mine, ownerId: randomUUID() };
      await store.upsert([
        await record(mine, 'my secret launch code is alpha'),
        await record(otherAgentSameOwner, 'the other agent secret launch code is beta'),
        await record(sameAgentIdOtherOwner, 'a stranger secret launch code is gamma'),
      ]);
      const hits = await store.search(mine, await query('secret launch code'), embedder.model, 10);
      expect(hits.map((h) => h.content)).toEqual(['my secret launch code is alpha']);
      const page = await store.list(mine, 10);
      expect(page.items.map((i) => i.content)).toEqual(['my secret launch code is alpha']);
    });

    it('applies the minimum score and the limit', async () => {
      const s = scope();
      await store.upsert([
        await record(s, 'kubernetes ingress timeout settings'),
        await record(s, 'banana bread recipe'),
      ]);
      const strict = await store.search(
        s,
        await query('kubernetes ingress timeout'),
        embedder.model,
        10,
        0.5,
      );
      expect(strict.map((h) => h.content)).toEqual(['kubernetes ingress timeout settings']);
      expect(await store.search(s, await query('kubernetes'), embedder.model, 1)).toHaveLength(1);
    });

    it('ignores vectors of another embedding model', async () => {
      const s = scope();
      await store.upsert([
        { ...(await record(s, 'model specific memory')), embeddingModel: 'some-other-model' },
      ]);
      expect(
        await store.search(s, await query('model specific memory'), embedder.model, 10),
      ).toEqual([]);
    });

    it('pages through every memory exactly once', async () => {
      const s = scope();
      const records = [];
      for (let i = 0; i < 7; i++) records.push(await record(s, `memory number ${i}`));
      await store.upsert(records);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list(s, 3, cursor);
        seen.push(...page.items.map((i) => i.id));
        cursor = page.nextCursor ?? undefined;
        pages++;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(seen.sort()).toEqual(records.map((r) => r.id).sort());
    });

    it('lists newest first, ties by id descending, in the same order page by page', async () => {
      const s = scope();
      const base = (clock += 100_000);
      // Seven memories at four instants, three of them at one instant: the order of every store
      // is (created_at DESC, id DESC), whatever the order they were written in.
      const offsets = [0, 1000, 1000, 1000, 2000, 3000, 3000];
      const records: MemoryRecord[] = [];
      for (const [i, offset] of offsets.entries())
        records.push({
          ...(await record(s, `ordered memory ${i}`)),
          createdAt: new Date(base + offset),
        });
      await store.upsert([records[3], records[0], records[6], records[1], records[5]]);
      await store.upsert([records[4], records[2]]);
      const expected = [...records]
        .sort(
          (a, b) =>
            b.createdAt.getTime() - a.createdAt.getTime() ||
            (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
        )
        .map((r) => r.id);

      const all = await store.list(s, 10);
      expect(all.items.map((i) => i.id)).toEqual(expected);
      expect(all.nextCursor).toBeNull();
      expect(all.items.map((i) => i.createdAt.getTime())).toEqual(
        [...offsets].reverse().map((o) => base + o),
      );
      // Page sizes that cut inside the tie (at the cursor and at a page's edge).
      for (const size of [1, 2, 3, 4]) {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.list(s, size, cursor);
          seen.push(...page.items.map((i) => i.id));
          cursor = page.nextCursor ?? undefined;
          pages++;
        } while (cursor && pages < 20);
        expect({ size, seen }).toEqual({ size, seen: expected });
        expect(pages).toBe(Math.ceil(expected.length / size));
      }
    });

    it('deletes one memory only within its scope', async () => {
      const s = scope();
      const r = await record(s, 'to be forgotten');
      await store.upsert([r]);
      expect(await store.delete({ ownerId: randomUUID(), agentId: s.agentId }, r.id)).toBe(false);
      expect(await store.delete({ ownerId: s.ownerId, agentId: randomUUID() }, r.id)).toBe(false);
      expect((await store.list(s, 10)).items).toHaveLength(1);
      expect(await store.delete(s, r.id)).toBe(true);
      expect(await store.delete(s, r.id)).toBe(false);
      expect((await store.list(s, 10)).items).toHaveLength(0);
    });

    it('deletes by agent and by project without touching others', async () => {
      const a = scope();
      const b = { ...a, agentId: randomUUID() };
      const otherProject = { ...a, agentId: randomUUID(), projectId: randomUUID() };
      await store.upsert([
        await record(a, 'a1'),
        await record(a, 'a2'),
        await record(b, 'b1'),
        await record(otherProject, 'c1'),
      ]);
      expect(await store.deleteByAgent(a)).toBe(2);
      expect((await store.list(a, 10)).items).toHaveLength(0);
      expect((await store.list(b, 10)).items).toHaveLength(1);
      expect(await store.deleteByProject(a.ownerId, a.projectId)).toBe(1);
      expect((await store.list(b, 10)).items).toHaveLength(0);
      expect((await store.list(otherProject, 10)).items).toHaveLength(1);
      // Another owner cannot delete by a project id they guessed.
      expect(await store.deleteByProject(randomUUID(), otherProject.projectId)).toBe(0);
      expect((await store.list(otherProject, 10)).items).toHaveLength(1);
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
