import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig, createRedisClient, REDIS } from '@codelab/platform';

/** The abort reason of a user's cancellation (as opposed to a lost lease). */
export class RunCancelledSignal extends Error {
  constructor() {
    super('cancelled');
  }
}

/**
 * Cooperative cancellation across processes: the API publishes the run id on a Redis channel;
 * the process executing that run aborts its model call. (The heartbeat also polls the run's
 * cancel flag in PostgreSQL, in case a message is missed.)
 */
@Injectable()
export class RunCancellation implements OnApplicationShutdown {
  private readonly logger = new Logger(RunCancellation.name);
  private readonly running = new Map<string, { controller: AbortController; projectId: string }>();
  private subscriber?: Redis;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private get channel(): string {
    return `${this.config.redisKeyPrefix}run-cancel`;
  }

  async requestCancel(runId: string): Promise<void> {
    await this.publish(runId);
  }

  /** Stops every executing run of a deleted project (their rows are already gone). */
  async requestCancelProject(projectId: string): Promise<void> {
    await this.publish(`project:${projectId}`);
  }

  private async publish(message: string): Promise<void> {
    await this.redis.publish(this.channel, message).catch((error: Error) => {
      this.logger.warn(
        `Could not publish cancellation of ${message} (heartbeat will see it): ${error.message}`,
      );
    });
  }

  /** Worker side: one subscriber connection per process, whatever the number of runs. */
  async listen(): Promise<void> {
    if (this.subscriber) return;
    this.subscriber = createRedisClient(this.config.redisUrl, 'codelab-run-cancel');
    this.subscriber.on('message', (_channel: string, message: string) =>
      message.startsWith('project:') ? this.abortProject(message.slice(8)) : this.abort(message),
    );
    await this.subscriber.connect().catch(() => undefined);
    await this.subscriber
      .subscribe(this.channel)
      .catch((error: Error) => this.logger.warn(`Cancel channel unavailable: ${error.message}`));
  }

  register(runId: string, projectId: string): AbortController {
    const controller = new AbortController();
    this.running.set(runId, { controller, projectId });
    return controller;
  }

  /** Whether this process is executing the run right now. */
  isRunning(runId: string): boolean {
    return this.running.has(runId);
  }

  unregister(runId: string): void {
    this.running.delete(runId);
  }

  abort(runId: string): void {
    this.running.get(runId)?.controller.abort(new RunCancelledSignal());
  }

  abortProject(projectId: string): void {
    for (const { controller, projectId: p } of this.running.values())
      if (p === projectId) controller.abort(new RunCancelledSignal());
  }

  get activeCount(): number {
    return this.running.size;
  }

  onApplicationShutdown(): void {
    this.subscriber?.disconnect();
  }
}
