import { DomainError } from '@codelab/platform';

/** Which part of memory failed: the embeddings endpoint or the vector store. */
export type MemoryComponent = 'embeddings' | 'store';

/**
 * Memory could not be read or written because a dependency failed (embeddings endpoint missing
 * or down, Qdrant down). Runs degrade on it (they answer without memory); HTTP answers 503.
 */
export class MemoryUnavailableError extends DomainError {
  readonly code = 'MEMORY_UNAVAILABLE';
  readonly kind = 'unavailable' as const;
  override readonly retryAfterSeconds = 30;

  constructor(
    readonly component: MemoryComponent,
    cause: unknown,
  ) {
    super(
      `Agent memory is unavailable: the ${component === 'embeddings' ? 'embeddings endpoint' : 'memory store'} failed (${(cause as Error)?.message ?? String(cause)})`,
      { component },
    );
    this.cause = cause;
  }
}
