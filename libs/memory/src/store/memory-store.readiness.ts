import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ReadinessChecks } from '@codelab/platform';
import { MEMORY_STORE, type MemoryStore } from './memory-store';

/**
 * Adds the memory store's own service to `/ready` when it is not PostgreSQL (already checked by
 * the platform): with QDRANT_URL set, `/ready` reports Qdrant as `qdrant`.
 */
@Injectable()
export class MemoryStoreReadiness implements OnModuleInit {
  constructor(
    @Inject(MEMORY_STORE) private readonly store: MemoryStore,
    private readonly readiness: ReadinessChecks,
  ) {}

  onModuleInit(): void {
    if (this.store.kind === 'qdrant') this.readiness.register('qdrant', () => this.store.ping());
  }
}
