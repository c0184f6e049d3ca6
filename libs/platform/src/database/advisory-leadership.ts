import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import { ThrottledLog } from '../observability/throttled-log';

/**
 * Leadership by a PostgreSQL session-level advisory lock, held on a connection of its own: the
 * process holding it is the leader for as long as that connection lives. A crashed leader's
 * connection closes and the lock frees at once; a leader that loses its connection (network,
 * PostgreSQL restart) learns it at its next check and steps down. No clocks, no leases to renew.
 */
export class AdvisoryLeadership {
  private readonly log: ThrottledLog;
  private client?: Client;
  private leader = false;
  private readonly listeners = new Map<string, () => void>();

  constructor(
    private readonly databaseUrl: string,
    private readonly lockKey: number,
    private readonly name: string,
  ) {
    this.log = new ThrottledLog(new Logger(`Leadership:${name}`));
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** True when this process leads, taking the lock when it is free. One round trip. */
  async ensure(): Promise<boolean> {
    try {
      const client = await this.connection();
      if (this.leader) {
        // The lock lives as long as the session: a live connection is a held lock.
        await client.query('select 1');
        return true;
      }
      const { rows } = await client.query<{ locked: boolean }>(
        'select pg_try_advisory_lock($1) as locked',
        [this.lockKey],
      );
      this.leader = rows[0]?.locked === true;
      return this.leader;
    } catch (error) {
      this.log.warn('check', `${this.name} leadership check failed: ${(error as Error).message}`);
      await this.release();
      return false;
    }
  }

  /**
   * Calls `onNotify` when a NOTIFY arrives on `channel` (on this process's leadership connection,
   * leader or not; the caller decides what to do). Takes effect from the next (re)connection.
   */
  listen(channel: string, onNotify: () => void): void {
    this.listeners.set(channel, onNotify);
  }

  /** Steps down (closing the connection frees the lock). */
  async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.leader = false;
    await client?.end().catch(() => undefined);
  }

  private async connection(): Promise<Client> {
    if (this.client) return this.client;
    const client = new Client({
      connectionString: this.databaseUrl,
      connectionTimeoutMillis: 5_000,
      // A half-open connection (partition, failover) must not hang the leader's checks: they
      // time out, and leadership is given up and sought again on a fresh connection.
      query_timeout: 5_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: `codelab-${this.name}-leader`,
    });
    // A dropped connection is reported here and surfaces as a failed query at the next check.
    client.on('error', (error) =>
      this.log.warn('connection', `${this.name} leader connection: ${error.message}`),
    );
    client.on('notification', (message) => this.listeners.get(message.channel)?.());
    this.client = client;
    try {
      await client.connect();
      for (const channel of this.listeners.keys())
        await client.query(`listen ${client.escapeIdentifier(channel)}`);
    } catch (error) {
      this.client = undefined;
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }
}
