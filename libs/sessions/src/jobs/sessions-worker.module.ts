import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions.module';
import { IdempotencyCleanup } from './idempotency-cleanup';

/** Sessions' background work (worker processes only). */
@Module({
  imports: [SessionsModule],
  providers: [IdempotencyCleanup],
  exports: [IdempotencyCleanup],
})
export class SessionsWorkerModule {}
