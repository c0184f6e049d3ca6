import { QdrantClient, type Schemas } from '@qdrant/js-client-rest';
import { decodeCreatedAtCursor, encodeCreatedAtCursor } from '@codelab/platform';
import {
  type MemoryItem,
  type MemoryPage,
  type MemoryRecord,
  type MemoryScope,
  type MemoryStore,
} from './memory-store';
import { newestFirstPage, type NewestFirstSource } from './newest-first-page';

interface Payload {
  owner_id: string;
  agent_id: string;
  project_id: string;
  content: string;
  metadata: Record<string, unknown>;
  embedding_model: string;
  created_at: number;
}

/** The tenant filter every query carries: owner AND agent, no exceptions. */
const scopeFilter = (
  scope: MemoryScope,
  extra: Schemas['Condition'][] = [],
): { must: Schemas['Condition'][] } => ({
  must: [
    { key: 'owner_id', match: { value: scope.ownerId } },
    { key: 'agent_id', match: { value: scope.agentId } },
    ...extra,
  ],
});

/** The store or its collection does not fit the configured embeddings: a configuration error. */
export class MemoryStoreConfigError extends Error {
  override readonly name = 'MemoryStoreConfigError';
}

/** Refuses a vector whose length is not the collection's (before any call to Qdrant). */
export function assertVectorDimensions(vector: number[], expected: number, what: string): void {
  if (vector.length !== expected)
    throw new MemoryStoreConfigError(
      `${what} has ${vector.length} dimensions, but the Qdrant memory store is configured for ${expected} (the embedder's dimension)`,
    );
}

/**
 * Refuses an existing collection whose vectors differ from what this store writes (one unnamed
 * vector of `expected` dimensions, cosine distance): searching it would fail or return wrong
 * scores. Qdrant cannot change a collection's vector size; another collection is the way out.
 */
export function assertCollectionVectors(
  collection: string,
  vectors: Schemas['VectorsConfig'] | undefined,
  expected: number,
): void {
  const fix = `set QDRANT_COLLECTION to another collection, or delete "${collection}" to have it re-created (its memories are lost)`;
  const params = vectors as Partial<Schemas['VectorParams']> | undefined;
  if (typeof params?.size !== 'number')
    throw new MemoryStoreConfigError(
      `Qdrant collection "${collection}" has no single unnamed vector (named vectors: ${Object.keys(vectors ?? {}).join(', ') || 'none'}); CodeLab needs one of ${expected} dimensions: ${fix}`,
    );
  if (params.size !== expected)
    throw new MemoryStoreConfigError(
      `Qdrant collection "${collection}" stores vectors of ${params.size} dimensions, but the embedder produces ${expected} (EMBEDDINGS_PROVIDER, EMBEDDINGS_MODEL, LOCAL_EMBEDDING_DIMENSIONS): ${fix}`,
    );
  if (params.distance !== 'Cosine')
    throw new MemoryStoreConfigError(
      `Qdrant collection "${collection}" uses ${String(params.distance)} distance, CodeLab needs Cosine: ${fix}`,
    );
}

const AT_PAGE = 256;

/**
 * Memories in one Qdrant collection, multi-tenant by payload: `owner_id` and `agent_id` are
 * keyword indexes marked `is_tenant`, and every search, scroll and delete is filtered by both.
 * Lists page newest first by (created_at, id), like the PostgreSQL store: `created_at` has a
 * range index for Qdrant's `order_by`, and ties are ordered by id here (newestFirstPage).
 */
export class QdrantMemoryStore implements MemoryStore {
  readonly kind = 'qdrant' as const;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly client: QdrantClient,
    private readonly collection: string,
    private readonly dimensions: number,
  ) {}

  static connect(
    url: string,
    apiKey: string | undefined,
    collection: string,
    dimensions: number,
  ): QdrantMemoryStore {
    return new QdrantMemoryStore(
      new QdrantClient({ url, apiKey, timeout: 10_000 }),
      collection,
      dimensions,
    );
  }

  /**
   * Creates the collection and its indexes on first use (idempotent), or checks that the existing
   * one has this store's vector size and distance (MemoryStoreConfigError, on every use, if not).
   */
  private ensureCollection(): Promise<void> {
    this.ready ??= (async () => {
      const { exists } = await this.client.collectionExists(this.collection);
      if (!exists) {
        await this.client.createCollection(this.collection, {
          vectors: { size: this.dimensions, distance: 'Cosine' },
        });
      } else {
        const info = await this.client.getCollection(this.collection);
        assertCollectionVectors(this.collection, info.config.params.vectors, this.dimensions);
      }
      for (const field of ['owner_id', 'agent_id']) {
        await this.client.createPayloadIndex(this.collection, {
          field_name: field,
          field_schema: { type: 'keyword', is_tenant: true },
          wait: true,
        });
      }
      await this.client.createPayloadIndex(this.collection, {
        field_name: 'project_id',
        field_schema: 'keyword',
        wait: true,
      });
      // Range index: lists order by it (order_by) and page by it (range filters).
      await this.client.createPayloadIndex(this.collection, {
        field_name: 'created_at',
        field_schema: 'integer',
        wait: true,
      });
    })().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  async upsert(records: MemoryRecord[]): Promise<void> {
    for (const r of records) assertVectorDimensions(r.embedding, this.dimensions, `Memory ${r.id}`);
    await this.ensureCollection();
    await this.client.upsert(this.collection, {
      wait: true,
      points: records.map((r) => ({
        id: r.id,
        vector: r.embedding,
        payload: {
          owner_id: r.ownerId,
          agent_id: r.agentId,
          project_id: r.projectId,
          content: r.content,
          metadata: r.metadata,
          embedding_model: r.embeddingModel,
          created_at: r.createdAt.getTime(),
        } satisfies Payload,
      })),
    });
  }

  async search(
    scope: MemoryScope,
    vector: number[],
    embeddingModel: string,
    limit: number,
    minScore = 0,
  ): Promise<MemoryItem[]> {
    assertVectorDimensions(vector, this.dimensions, 'The query vector');
    await this.ensureCollection();
    const result = await this.client.query(this.collection, {
      query: vector,
      filter: scopeFilter(scope, [{ key: 'embedding_model', match: { value: embeddingModel } }]),
      limit,
      score_threshold: minScore,
      with_payload: true,
    });
    return result.points.map((p) => ({
      ...toItem(String(p.id), p.payload as unknown as Payload),
      score: p.score,
    }));
  }

  async list(scope: MemoryScope, limit: number, cursor?: string): Promise<MemoryPage> {
    // Decoded first: a malformed cursor is the caller's error (400), never a call to Qdrant.
    const after = cursor ? decodeCreatedAtCursor(cursor) : undefined;
    await this.ensureCollection();
    const source: NewestFirstSource<TimedItem> = {
      newest: async (n, before) => {
        const page = await this.client.scroll(this.collection, {
          filter: scopeFilter(
            scope,
            before === undefined ? [] : [{ key: 'created_at', range: { lt: before } }],
          ),
          order_by: { key: 'created_at', direction: 'desc' },
          limit: n,
          with_payload: true,
        });
        return page.points.map(toTimedItem);
      },
      at: async (createdAt) => {
        const filter = scopeFilter(scope, [
          { key: 'created_at', range: { gte: createdAt, lte: createdAt } },
        ]);
        const all: TimedItem[] = [];
        let offset: Schemas['ExtendedPointId'] | undefined;
        do {
          const page = await this.client.scroll(this.collection, {
            filter,
            limit: AT_PAGE,
            offset,
            with_payload: true,
          });
          all.push(...page.points.map(toTimedItem));
          offset = (page.next_page_offset ?? undefined) as Schemas['ExtendedPointId'] | undefined;
        } while (offset !== undefined);
        return all;
      },
    };
    const { items, more } = await newestFirstPage(
      source,
      limit,
      after && { createdAt: after.createdAt.getTime(), id: after.id },
    );
    const last = items.at(-1)?.item;
    return {
      items: items.map((i) => i.item),
      nextCursor: more && last ? encodeCreatedAtCursor(last) : null,
    };
  }

  async delete(scope: MemoryScope, id: string): Promise<boolean> {
    await this.ensureCollection();
    // Filter by id AND scope so one tenant can never delete another's point.
    const found = await this.client.scroll(this.collection, {
      filter: { must: [...scopeFilter(scope).must, { has_id: [id] }] },
      limit: 1,
      with_payload: false,
    });
    if (found.points.length === 0) return false;
    await this.client.delete(this.collection, {
      wait: true,
      filter: { must: [...scopeFilter(scope).must, { has_id: [id] }] },
    });
    return true;
  }

  async deleteByAgent(scope: MemoryScope): Promise<number> {
    await this.ensureCollection();
    const { count } = await this.client.count(this.collection, {
      filter: scopeFilter(scope),
      exact: true,
    });
    await this.client.delete(this.collection, { wait: true, filter: scopeFilter(scope) });
    return count;
  }

  async deleteByProject(ownerId: string, projectId: string): Promise<number> {
    await this.ensureCollection();
    const filter = {
      must: [
        { key: 'owner_id', match: { value: ownerId } },
        { key: 'project_id', match: { value: projectId } },
      ],
    };
    const { count } = await this.client.count(this.collection, { filter, exact: true });
    await this.client.delete(this.collection, { wait: true, filter });
    return count;
  }

  /**
   * Readiness: Qdrant answers, and the collection exists with this store's vectors (created on
   * the first probe; a collection of another vector size keeps failing with the reason).
   */
  async ping(): Promise<void> {
    await this.ensureCollection();
    await this.client.collectionExists(this.collection);
  }
}

/** A listed point: its position for newestFirstPage (epoch ms) and the item it shows. */
interface TimedItem {
  id: string;
  createdAt: number;
  item: MemoryItem;
}

function toTimedItem(point: { id: string | number; payload?: unknown }): TimedItem {
  const payload = point.payload as Payload;
  const item = toItem(String(point.id), payload);
  return { id: item.id, createdAt: payload.created_at, item };
}

function toItem(id: string, payload: Payload): MemoryItem {
  return {
    id: id.toLowerCase(),
    content: payload.content,
    metadata: payload.metadata ?? {},
    createdAt: new Date(payload.created_at),
  };
}
