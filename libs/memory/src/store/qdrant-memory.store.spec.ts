import { randomBytes } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import { memoryStoreContract } from '../testing/memory-store.contract';
import { QdrantMemoryStore } from './qdrant-memory.store';

const QDRANT_URL = process.env.QDRANT_URL;

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
} else {
  // Qdrant is not available on every machine; the same contract runs whenever QDRANT_URL is set.
  describe.skip('MemoryStore contract: Qdrant (set QDRANT_URL to run)', () => {
    it('runs the contract against Qdrant', () => undefined);
  });
}
