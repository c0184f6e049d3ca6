import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import {
  APP_CONFIG,
  type AppConfig,
  bullmqConnection,
  bullmqPrefix,
  ThrottledLog,
} from '@codelab/platform';
import type { Approval } from '../entities/approval.entity';

export const APPROVAL_DEADLINES_QUEUE = 'approval-deadlines';
export const deadlineJobId = (approvalId: string) => `deadline-${approvalId}`;

/**
 * One delayed BullMQ job per pending approval, due at its deadline (the worker applies the
 * default action). Scheduling never fails the caller: the sweeper applies any deadline whose job
 * was lost or never added.
 */
@Injectable()
export class ApprovalDeadlines implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ApprovalDeadlines.name);
  private readonly throttled = new ThrottledLog(this.logger);
  readonly queue: Queue<{ approvalId: string }>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.queue = new Queue(APPROVAL_DEADLINES_QUEUE, {
      connection: bullmqConnection(config, 'producer'),
      prefix: bullmqPrefix(config),
      defaultJobOptions: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: { age: 3_600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3_600 },
      },
    });
    this.queue.on('error', (error) =>
      this.throttled.warn('queue', `Approval deadlines (producer): ${error.message}`),
    );
  }

  async schedule(approval: Approval): Promise<void> {
    try {
      await this.queue.add(
        'deadline',
        { approvalId: approval.id },
        {
          jobId: deadlineJobId(approval.id),
          delay: Math.max(0, new Date(approval.deadlineAt).getTime() - Date.now()),
        },
      );
    } catch (error) {
      this.throttled.warn(
        'schedule',
        `Could not schedule the deadline of approval ${approval.id} (the sweeper covers it): ${(error as Error).message}`,
      );
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}
