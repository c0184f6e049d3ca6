import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { EMBEDDER, type Embedder } from './embeddings/embedder';
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

  /** Stores one interaction in the agent's memory; returns its id (null when memory is off). */
  async remember(agent: MemoryAgent, interaction: Interaction): Promise<string | null> {
    if (!agent.memoryEnabled) return null;
    const content =
      `User: ${interaction.userMessage}\nAssistant: ${interaction.assistantMessage}`.slice(
        0,
        MAX_CONTENT,
      );
    return this.store_(agent, content, { kind: 'interaction', ...interaction.metadata });
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
    const [vector] = await this.embedder.embed([query]);
    return this.store.search(scope, vector, this.embedder.model, limit, minScore);
  }

  list(scope: MemoryScope, limit: number, cursor?: string): Promise<MemoryPage> {
    return this.store.list(scope, limit, cursor);
  }

  delete(scope: MemoryScope, memoryId: string): Promise<boolean> {
    return this.store.delete(scope, memoryId);
  }

  forgetAgent(scope: MemoryScope): Promise<number> {
    return this.store.deleteByAgent(scope);
  }

  forgetProject(ownerId: string, projectId: string): Promise<number> {
    return this.store.deleteByProject(ownerId, projectId);
  }

  private async store_(
    agent: MemoryAgent,
    content: string,
    metadata: Record<string, unknown>,
  ): Promise<string> {
    const [embedding] = await this.embedder.embed([content]);
    const id = randomUUID();
    await this.store.upsert([
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
    ]);
    return id;
  }
}
