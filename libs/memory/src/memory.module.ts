import { Module } from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { EMBEDDER, type Embedder } from './embeddings/embedder';
import { LocalHashEmbedder } from './embeddings/local-hash-embedder';
import { OpenAiEmbedder } from './embeddings/openai-embedder';
import { MemoryService } from './memory.service';
import { MEMORY_STORE, type MemoryStore } from './store/memory-store';
import { MemoryStoreReadiness } from './store/memory-store.readiness';
import { PgMemoryStore } from './store/pg-memory.store';
import { QdrantMemoryStore } from './store/qdrant-memory.store';

const OPENAI_EMBEDDING_DIMENSIONS = 1536;

@Module({
  providers: [
    {
      provide: EMBEDDER,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): Embedder =>
        config.memory.embeddingsProvider === 'openai'
          ? new OpenAiEmbedder({
              apiKey: config.llm.openaiApiKey,
              baseUrl: config.llm.openaiBaseUrl,
              model: config.memory.embeddingsModel,
              dimensions: OPENAI_EMBEDDING_DIMENSIONS,
              timeoutMs: config.llm.timeoutMs,
            })
          : new LocalHashEmbedder(config.memory.localEmbeddingDimensions),
    },
    {
      provide: MEMORY_STORE,
      inject: [APP_CONFIG, EntityManager, EMBEDDER],
      useFactory: (config: AppConfig, em: EntityManager, embedder: Embedder): MemoryStore =>
        config.memory.qdrantUrl
          ? QdrantMemoryStore.connect(
              config.memory.qdrantUrl,
              config.memory.qdrantApiKey,
              config.memory.qdrantCollection,
              embedder.dimensions,
            )
          : new PgMemoryStore(em),
    },
    MemoryService,
    MemoryStoreReadiness,
  ],
  exports: [MemoryService],
})
export class MemoryModule {}
