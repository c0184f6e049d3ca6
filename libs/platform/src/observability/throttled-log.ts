import type { Logger } from '@nestjs/common';

interface Entry {
  last: number;
  suppressed: number;
}

const MAX_KEYS = 200;

/**
 * Logs a recurring condition (a dependency down, a retry loop) at most once per interval per
 * key, with the number of repeats it held back. An outage must stay visible without flooding the
 * log: one line per cause every few seconds, not one per failed call.
 */
export class ThrottledLog {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly logger: Pick<Logger, 'warn' | 'error'>,
    private readonly intervalMs = 10_000,
  ) {}

  warn(key: string, message: string): void {
    this.emit('warn', key, message);
  }

  error(key: string, message: string): void {
    this.emit('error', key, message);
  }

  private emit(level: 'warn' | 'error', key: string, message: string): void {
    const now = Date.now();
    const entry = this.entries.get(key);
    if (entry && now - entry.last < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    if (!entry && this.entries.size >= MAX_KEYS) {
      // Keys are causes, a small set; evict the oldest if a caller ever keys on something wider.
      const [oldest] = this.entries.keys();
      this.entries.delete(oldest);
    }
    const repeats = entry?.suppressed ? ` (${entry.suppressed} similar since the last report)` : '';
    this.entries.set(key, { last: now, suppressed: 0 });
    this.logger[level](`${message}${repeats}`);
  }
}
