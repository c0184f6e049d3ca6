import fixture from '../../../../test/fixtures/memory-recall.json';
import { LocalHashEmbedder } from './local-hash-embedder';

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);

describe('LocalHashEmbedder', () => {
  const embedder = new LocalHashEmbedder(384);

  it('is deterministic, fixed-dimension and L2-normalised', async () => {
    const [a, b] = await embedder.embed(['Deploy the API', 'Deploy the API']);
    expect(a).toEqual(b);
    expect(a).toHaveLength(384);
    expect(dot(a, a)).toBeCloseTo(1, 6);
    expect(embedder.model).toBe('local-hash-v1-384');
  });

  it('scores texts that share words higher than unrelated ones', async () => {
    const [q, related, unrelated, variant] = await embedder.embed([
      'restart the payment service',
      'the payment service needs a restart after deploys',
      'the cat sleeps on the sofa',
      'payments servicing',
    ]);
    expect(dot(q, related)).toBeGreaterThan(dot(q, unrelated));
    // Character trigrams give word variants partial credit.
    expect(dot(q, variant)).toBeGreaterThan(dot(q, unrelated));
  });

  it('maps empty and stopword-only text to the zero vector (never a NaN)', async () => {
    const [empty, stop] = await embedder.embed(['', 'the and of']);
    expect(empty.every((v) => v === 0)).toBe(true);
    expect(stop.every((v) => v === 0)).toBe(true);
  });

  it('ranks the relevant fact first for every query of the fixture corpus (hits@1)', async () => {
    const facts = await embedder.embed(fixture.facts.map((f) => f.text));
    const misses: string[] = [];
    for (const q of fixture.queries) {
      const [v] = await embedder.embed([q.text]);
      const best = fixture.facts
        .map((f, i) => ({ id: f.id, score: dot(v, facts[i]) }))
        .sort((a, b) => b.score - a.score)[0];
      if (best.id !== q.expect) misses.push(`${q.text} -> ${best.id} (wanted ${q.expect})`);
    }
    expect(misses).toEqual([]);
  });
});
