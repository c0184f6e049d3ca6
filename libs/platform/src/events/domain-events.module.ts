import { Global, Module } from '@nestjs/common';
import { RelayLeadership } from '../database/relay-leadership';
import { DomainEventProcessor } from './domain-event.processor';
import { DomainEventRelay } from './domain-event-relay';
import { DomainEvents } from './domain-events';
import { domainEventMetricProviders } from './domain-events.metrics';

/** Recording and handler registration: every process (part of the platform). */
@Global()
@Module({
  providers: [DomainEvents, RelayLeadership, ...domainEventMetricProviders],
  exports: [DomainEvents, RelayLeadership, ...domainEventMetricProviders],
})
export class DomainEventsModule {}

/** Publishing and handling: worker processes only. */
@Module({
  providers: [DomainEventRelay, DomainEventProcessor],
})
export class DomainEventsWorkerModule {}
