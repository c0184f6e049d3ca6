import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { AdvisoryLeadership } from './advisory-leadership';

// The advisory lock every worker competes for; its holder relays runs and domain events.
export const RELAY_LOCK_KEY = 7_324_002;

/**
 * The process-wide relay leadership: one worker at a time relays the run outbox and publishes
 * domain events (both need one publisher, in order). Shared so both relays follow one election.
 */
@Injectable()
export class RelayLeadership extends AdvisoryLeadership implements OnApplicationShutdown {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super(config.databaseUrl, RELAY_LOCK_KEY, 'relay');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.release();
  }
}
