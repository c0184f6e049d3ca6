import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Worker } from 'bullmq';
import type { Gauge } from 'prom-client';
import {
  APP_CONFIG,
  type AppConfig,
  bullmqConnection,
  bullmqPrefix,
  ThrottledLog,
} from '@codelab/platform';
import { ApprovalDecisions } from '../approval-decisions';
import { APPROVALS_PENDING } from '../approvals.metrics';
import { Approval } from '../entities/approval.entity';
import { APPROVAL_DEADLINES_QUEUE } from './approval-deadlines';

/** How often the sweeper looks for missed deadlines and decisions not yet handed to their run. */
export const APPROVAL_SWEEP_MS = 2_000;
const BATCH = 100;
const SWEEP_CONCURRENCY = 8;

/**
 * Applies deadlines (worker processes): each approval's delayed job, and a sweeper every 2 s for
 * the ones whose job is missing (Redis lost it, a crash before it was added), so a default action
 * applies within deadline + 5 s across restarts. The sweeper also resumes runs whose decision was
 * committed but not handed over (a crash in between). Decisions are row-locked and idempotent:
 * several workers sweeping at once decide each approval once.
 */
@Injectable()
export class ApprovalDeadlineWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ApprovalDeadlineWorker.name);
  private readonly throttled = new ThrottledLog(this.logger);
  private worker?: Worker<{ approvalId: string }>;
  private timer?: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    private readonly em: EntityManager,
    private readonly decisions: ApprovalDecisions,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(APPROVALS_PENDING) private readonly pending: Gauge<string>,
  ) {}

  onApplicationBootstrap(): void {
    this.worker = new Worker<{ approvalId: string }>(
      APPROVAL_DEADLINES_QUEUE,
      async (job) => {
        await this.decisions.decide({
          approvalId: job.data.approvalId,
          action: 'expire',
          actor: 'timeout',
        });
      },
      {
        connection: bullmqConnection(this.config, 'consumer'),
        prefix: bullmqPrefix(this.config),
        concurrency: 4,
      },
    );
    this.worker.on('error', (error) =>
      this.throttled.warn('worker', `Approval deadlines (worker): ${error.message}`),
    );
    this.timer = setInterval(() => void this.sweep(), APPROVAL_SWEEP_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.worker?.close().catch(() => undefined);
  }

  /** One pass: due deadlines, then unresumed decisions, then the pending gauge. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const conn = this.em.fork().getConnection();
      const due = await conn.execute<{ id: string }[]>(
        `select id from approvals where status = 'pending' and deadline_at <= now()
         order by deadline_at limit ${BATCH}`,
      );
      // A few at a time: many deadlines falling due at once (their jobs lost) still apply
      // within seconds.
      for (let i = 0; i < due.length; i += SWEEP_CONCURRENCY)
        await Promise.all(
          due
            .slice(i, i + SWEEP_CONCURRENCY)
            .map(({ id }) =>
              this.decisions.decide({ approvalId: id, action: 'expire', actor: 'timeout' }),
            ),
        );
      const unresumed = await conn.execute<Record<string, unknown>[]>(
        `select * from approvals where status <> 'pending' and resumed_at is null
           and decided_at < now() - interval '2 seconds' order by decided_at limit ${BATCH}`,
      );
      for (const row of unresumed) await this.decisions.resume(this.em.fork().map(Approval, row));
      const [{ n }] = await conn.execute<{ n: number }[]>(
        `select count(*)::int as n from approvals where status = 'pending'`,
      );
      this.pending.set(n);
    } catch (error) {
      this.throttled.warn('sweep', `Approval sweep failed: ${(error as Error).message}`);
    } finally {
      this.sweeping = false;
    }
  }
}
