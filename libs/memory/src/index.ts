export { AgentMemory } from './entities/agent-memory.entity';
export { type Embedder, EMBEDDER } from './embeddings/embedder';
export { LocalHashEmbedder } from './embeddings/local-hash-embedder';
export { MemoryModule } from './memory.module';
export { type Interaction, type MemoryAgent, MemoryService } from './memory.service';
export {
  type MemoryItem,
  type MemoryPage,
  type MemoryScope,
  type MemoryStore,
  MEMORY_STORE,
} from './store/memory-store';
export { PgMemoryStore } from './store/pg-memory.store';
export { QdrantMemoryStore } from './store/qdrant-memory.store';
export { type MemoryComponent, MemoryUnavailableError } from './memory.errors';
