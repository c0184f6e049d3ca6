import { randomBytes, randomUUID } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import { memoryStoreContract } from '../testing/memory-store.contract';
import {
  assertCollectionVectors,
  assertVectorDimensions,
  MemoryStoreConfigError,
  QdrantMemoryStore,
} from './qdrant-memory.store';

const QDRANT_URL = process.env.QDRANT_URL;

describe('QdrantMemoryStore: vector dimensions (no Qdrant needed)', () => {
  it('refuses a vector of another length, saying both lengths', () => {
    expect(() => assertVectorDimensions([0.1, 0.2, 0.3], 3, 'v')).not.toThrow();
    expect(() => assertVectorDimensions(new Array(1536).fill(0), 384, 'The query vector')).toThrow(
      new MemoryStoreConfigError(
        "The query vector has 1536 dimensions, but the Qdrant memory store is configured for 384 (the embedder's dimension)",
      ),
    );
  });

  it('refuses an existing collection of another vector size, named vectors or another distance', () => {
    expect(() =>
      assertCollectionVectors('memories', { size: 384, distance: 'Cosine' }, 384),
    ).not.toThrow();
    expect(() =>
      assertCollectionVectors('memories', { size: 1536, distance: 'Cosine' }, 384),
    ).toThrow(
      /^Qdrant collection "memories" stores vectors of 1536 dimensions, but the embedder produces 384 .*QDRANT_COLLECTION/,
    );
    expect(() =>
      assertCollectionVectors('memories', { text: { size: 384, distance: 'Cosine' } }, 384),
    ).toThrow(/has no single unnamed vector \(named vectors: text\)/);
    expect(() => assertCollectionVectors('memories', { size: 384, distance: 'Dot' }, 384)).toThrow(
      /uses Dot distance, CodeLab needs Cosine/,
    );
  });

  describe('checks a vector before it calls Qdrant', () => {
    // Nothing listens on port 1: any call to Qdrant would fail with a connection error instead.
    const store = new QdrantMemoryStore(
      new QdrantClient({ url: 'http://127.0.0.1:1', checkCompatibility: false, timeout: 1_000 }),
      'never_created',
      8,
    );
    const scope = { ownerId: randomUUID(), agentId: randomUUID() };

    it('on upsert', async () => {
      await expect(
        store.upsert([
          {
            ...scope,
            id: randomUUID(),
            projectId: randomUUID(),
            content: 'x',
            metadata: {},
            embedding: [1, 0, 0, 0],
            embeddingModel: 'm',
            createdAt: new Date(),
          },
        ]),
      ).rejects.toThrow(/has 4 dimensions, but the Qdrant memory store is configured for 8/);
    });

    it('on search', async () => {
      await expect(store.search(scope, new Array(16).fill(0.25), 'm', 3)).rejects.toThrow(
        new MemoryStoreConfigError(
          "The query vector has 16 dimensions, but the Qdrant memory store is configured for 8 (the embedder's dimension)",
        ),
      );
    });

    it('and a malformed cursor before it lists (400, not a Qdrant error)', async () => {
      await expect(store.list(scope, 10, 'not-a-cursor')).rejects.toMatchObject({
        code: 'INVALID_CURSOR',
      });
    });
  });
});

if (QDRANT_URL) {
  memoryStoreContract('Qdrant', async () => {
    const collection = `codelab_test_${randomBytes(4).toString('hex')}`;
    const client = new QdrantClient({ url: QDRANT_URL });
    return {
      store: new QdrantMemoryStore(client, collection, 64),
      tearDown: async () => {
        await client.deleteCollection(collection);
      },
    };
  });

  describe('QdrantMemoryStore against Qdrant: an existing collection of another size', () => {
    const client = new QdrantClient({ url: QDRANT_URL });
    const collection = `codelab_test_${randomBytes(4).toString('hex')}`;
    afterAll(async () => {
      await client.deleteCollection(collection);
    });

    it('fails readiness and every use with the reason, instead of wrong results', async () => {
      await client.createCollection(collection, { vectors: { size: 32, distance: 'Cosine' } });
      const store = new QdrantMemoryStore(client, collection, 64);
      const scope = { ownerId: randomUUID(), agentId: randomUUID() };
      await expect(store.ping()).rejects.toThrow(
        /stores vectors of 32 dimensions, but the embedder produces 64/,
      );
      await expect(store.list(scope, 10)).rejects.toThrow(MemoryStoreConfigError);
      await expect(store.search(scope, new Array(64).fill(0.125), 'm', 3)).rejects.toThrow(
        /stores vectors of 32 dimensions/,
      );
    });
  });
} else {
  // Qdrant is not available on every machine; the same contract runs whenever QDRANT_URL is set.
  describe.skip('MemoryStore contract: Qdrant (set QDRANT_URL to run)', () => {
    it('runs the contract against Qdrant', () => undefined);
  });
}
