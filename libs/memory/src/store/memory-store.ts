/** Who a memory belongs to. Every read and delete is filtered by BOTH ids. */
export interface MemoryScope {
  ownerId: string;
  agentId: string;
}

export interface MemoryRecord extends MemoryScope {
  id: string;
  projectId: string;
  content: string;
  metadata: Record<string, unknown>;
  embedding: number[];
  embeddingModel: string;
  createdAt: Date;
}

export interface MemoryItem {
  id: string;
  content: string;
  metadata: Record<string, unknown>;
  createdAt: Date;
  /** Cosine similarity to the query, for searches. */
  score?: number;
}

export interface MemoryPage {
  items: MemoryItem[];
  nextCursor: string | null;
}

/**
 * Where agent memories live: PostgreSQL (default, exact search) or Qdrant. Both honour the same
 * contract (memory-store.contract.ts).
 */
export interface MemoryStore {
  /** Which service backs it (PostgreSQL outages are the whole service's, Qdrant's are memory's). */
  readonly kind: 'postgres' | 'qdrant';
  upsert(records: MemoryRecord[]): Promise<void>;
  search(
    scope: MemoryScope,
    vector: number[],
    embeddingModel: string,
    limit: number,
    minScore?: number,
  ): Promise<MemoryItem[]>;
  list(scope: MemoryScope, limit: number, cursor?: string): Promise<MemoryPage>;
  delete(scope: MemoryScope, id: string): Promise<boolean>;
  deleteByAgent(scope: MemoryScope): Promise<number>;
  deleteByProject(ownerId: string, projectId: string): Promise<number>;
  /** Readiness of the backing service. */
  ping(): Promise<void>;
}

export const MEMORY_STORE = Symbol('MEMORY_STORE');
