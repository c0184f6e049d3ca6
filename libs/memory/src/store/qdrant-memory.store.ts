import { QdrantClient } from '@qdrant/js-client-rest';
import {
  type MemoryItem,
  type MemoryPage,
  type MemoryRecord,
  type MemoryScope,
  type MemoryStore,
} from './memory-store';

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
  extra: { key: string; match: { value: string } }[] = [],
) => ({
  must: [
    { key: 'owner_id', match: { value: scope.ownerId } },
    { key: 'agent_id', match: { value: scope.agentId } },
    ...extra,
  ],
});

/**
 * Memories in one Qdrant collection, multi-tenant by payload: `owner_id` and `agent_id` are
 * keyword indexes marked `is_tenant`, and every search, scroll and delete is filtered by both.
 * Lists page in point-id order (Qdrant's scroll offset), not by time.
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

  /** Creates the collection and its tenant indexes on first use (idempotent). */
  private ensureCollection(): Promise<void> {
    this.ready ??= (async () => {
      const { exists } = await this.client.collectionExists(this.collection);
      if (!exists) {
        await this.client.createCollection(this.collection, {
          vectors: { size: this.dimensions, distance: 'Cosine' },
        });
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
    })().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  async upsert(records: MemoryRecord[]): Promise<void> {
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
    await this.ensureCollection();
    const page = await this.client.scroll(this.collection, {
      filter: scopeFilter(scope),
      limit,
      offset: cursor,
      with_payload: true,
    });
    return {
      items: page.points.map((p) => toItem(String(p.id), p.payload as unknown as Payload)),
      nextCursor: page.next_page_offset ? String(page.next_page_offset) : null,
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

  async ping(): Promise<void> {
    await this.client.getCollections();
  }
}

function toItem(id: string, payload: Payload): MemoryItem {
  return {
    id,
    content: payload.content,
    metadata: payload.metadata ?? {},
    createdAt: new Date(payload.created_at),
  };
}
