import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { RelayLeadership, ThrottledLog } from '@codelab/platform';

const EVERY_MS = 10 * 60_000;
const BATCH = 5_000;

/**
 * Deletes expired idempotency records (IDEMPOTENCY_TTL_HOURS after their request), in batches,
 * from the elected relay only. Lookups already treat expired records as absent; this keeps the
 * table from growing without bound.
 */
@Injectable()
export class IdempotencyCleanup implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(IdempotencyCleanup.name);
  private readonly throttled = new ThrottledLog(this.logger);
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly em: EntityManager,
    private readonly leadership: RelayLeadership,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Returns how many records it deleted (0 when this process does not lead). */
  async sweep(): Promise<number> {
    try {
      if (!(await this.leadership.ensure())) return 0;
      const conn = this.em.fork().getConnection();
      let total = 0;
      for (;;) {
        const deleted = await conn.execute<{ key: string }[]>(
          `delete from idempotency_records where ctid in
             (select ctid from idempotency_records where expires_at < now() limit ${BATCH})
           returning key`,
        );
        total += deleted.length;
        if (deleted.length < BATCH) return total;
      }
    } catch (error) {
      this.throttled.warn('sweep', `Idempotency cleanup failed: ${(error as Error).message}`);
      return 0;
    }
  }
}
