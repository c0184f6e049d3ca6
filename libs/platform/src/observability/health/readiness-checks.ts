import { Injectable } from '@nestjs/common';

/** Resolves when the dependency answers; rejects (with a message for /ready) when it does not. */
export type ReadinessCheck = () => Promise<void>;

// Checks /ready always runs; a feature cannot replace them.
const BUILT_IN = new Set(['lifecycle', 'postgres', 'redis']);

/**
 * Dependencies a feature adds to `/ready` (e.g. the memory feature's Qdrant when it is
 * configured). The platform knows no feature: features register here, the health controller runs
 * every registered check beside PostgreSQL and Redis, with the same timeout.
 */
@Injectable()
export class ReadinessChecks {
  private readonly checks = new Map<string, ReadinessCheck>();

  /** Adds a check named `name` (its key in /ready's details); a name is registered once. */
  register(name: string, check: ReadinessCheck): void {
    if (BUILT_IN.has(name) || this.checks.has(name))
      throw new Error(`Readiness check "${name}" is already registered`);
    this.checks.set(name, check);
  }

  entries(): [string, ReadinessCheck][] {
    return [...this.checks];
  }
}
