import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DomainError, isDatabaseUnavailable } from '@codelab/platform';
import { EMBEDDER, type Embedder } from './embeddings/embedder';
import { type MemoryComponent, MemoryUnavailableError } from './memory.errors';
import {
  MEMORY_STORE,
  type MemoryItem,
  type MemoryPage,
  type MemoryScope,
  type MemoryStore,
} from './store/memory-store';

/** What the execution layer knows about an agent when it recalls or remembers. */
export interface MemoryAgent extends MemoryScope {
  projectId: string;
  memoryEnabled: boolean;
  memoryTopK: number;
}

export interface Interaction {
  userMessage: string;
  assistantMessage: string;
  metadata?: Record<string, unknown>;
}

// Below this cosine similarity a hit is noise, not memory.
const MIN_RECALL_SCORE = 0.1;
const MAX_CONTENT = 8_000;

/** The memory feature's public API: recall before a model call, remember after it. */
@Injectable()
export class MemoryService {
  constructor(
    @Inject(MEMORY_STORE) private readonly store: MemoryStore,
    @Inject(EMBEDDER) private readonly embedder: Embedder,
  ) {}

  /** The agent's most relevant memories for `query` (none when its memory is off). */
  async recall(agent: MemoryAgent, query: string, k = agent.memoryTopK): Promise<MemoryItem[]> {
    if (!agent.memoryEnabled || !query.trim()) return [];
    return this.search(agent, query, k, MIN_RECALL_SCORE);
  }

  /**
   * Stores one interaction in the agent's memory; returns its id (null when memory is off). With
   * an `id` the write is idempotent (an upsert), so a retried run never stores it twice.
   */
  async remember(
    agent: MemoryAgent,
    interaction: Interaction,
    id: string = randomUUID(),
  ): Promise<string | null> {
    if (!agent.memoryEnabled) return null;
    const content =
      `User: ${interaction.userMessage}\nAssistant: ${interaction.assistantMessage}`.slice(
        0,
        MAX_CONTENT,
      );
    return this.store_(agent, content, { kind: 'interaction', ...interaction.metadata }, id);
  }

  /** Stores a free-form fact. */
  async storeFact(
    agent: MemoryAgent,
    content: string,
    metadata: Record<string, unknown> = {},
  ): Promise<string> {
    return this.store_(agent, content.slice(0, MAX_CONTENT), { kind: 'fact', ...metadata });
  }

  async search(
    scope: MemoryScope,
    query: string,
    limit: number,
    minScore = 0,
  ): Promise<MemoryItem[]> {
    const [vector] = await this.embed(query);
    return this.guard('store', () =>
      this.store.search(scope, vector, this.embedder.model, limit, minScore),
    );
  }

  list(scope: MemoryScope, limit: number, cursor?: string): Promise<MemoryPage> {
    return this.guard('store', () => this.store.list(scope, limit, cursor));
  }

  delete(scope: MemoryScope, memoryId: string): Promise<boolean> {
    return this.guard('store', () => this.store.delete(scope, memoryId));
  }

  forgetAgent(scope: MemoryScope): Promise<number> {
    return this.guard('store', () => this.store.deleteByAgent(scope));
  }

  forgetProject(ownerId: string, projectId: string): Promise<number> {
    return this.guard('store', () => this.store.deleteByProject(ownerId, projectId));
  }

  private async store_(
    agent: MemoryAgent,
    content: string,
    metadata: Record<string, unknown>,
    id: string = randomUUID(),
  ): Promise<string> {
    const [embedding] = await this.embed(content);
    await this.guard('store', () =>
      this.store.upsert([
        {
          id,
          ownerId: agent.ownerId,
          agentId: agent.agentId,
          projectId: agent.projectId,
          content,
          metadata,
          embedding,
          embeddingModel: this.embedder.model,
          createdAt: new Date(),
        },
      ]),
    );
    return id;
  }

  private async embed(text: string): Promise<number[][]> {
    const vectors = await this.guard('embeddings', () => this.embedder.embed([text]));
    // Some OpenAI-compatible servers answer 200 with no data; that is a failure, not an empty vector.
    if (!Array.isArray(vectors[0]) || vectors[0].length === 0)
      throw new MemoryUnavailableError('embeddings', new Error('the endpoint returned no vector'));
    return vectors;
  }

  /**
   * Turns a dependency's failure into MemoryUnavailableError, except PostgreSQL being down when it
   * is the store: that is an outage of the whole service, which callers retry, not degrade.
   */
  private async guard<T>(component: MemoryComponent, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof MemoryUnavailableError) throw error;
      // The caller's mistake (a bad cursor), not an outage: never a 503 to retry forever.
      if (error instanceof DomainError && error.kind !== 'unavailable') throw error;
      if (component === 'store' && this.store.kind === 'postgres' && isDatabaseUnavailable(error))
        throw error;
      throw new MemoryUnavailableError(component, error);
    }
  }
}
