import type { Response } from 'express';
import { compareStreamIds, type StreamEntry } from './session-event-log';

export interface SseClientOptions {
  bufferLimitBytes: number;
  onLag: (seconds: number) => void;
  onOverflow: () => void;
}

/**
 * One connected EventSource. Entries may arrive twice (replay overlapping live delivery); the
 * client writes each id once, in order. While it catches up (replaying), live entries wait in a
 * small buffer. A client whose socket buffer passes the limit is sent `resync` and closed, so a
 * slow reader cannot grow the process's memory without bound.
 */
export class SseClient {
  private lastSentId = '0-0';
  private catchingUp = true;
  private pending: StreamEntry[] = [];
  closed = false;

  constructor(
    readonly sessionId: string,
    private readonly res: Response,
    private readonly options: SseClientOptions,
  ) {}

  start(retryMs: number): void {
    this.res.status(200);
    this.res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    this.res.setHeader('Cache-Control', 'no-cache, no-transform');
    this.res.setHeader('Connection', 'keep-alive');
    this.res.setHeader('X-Accel-Buffering', 'no');
    this.res.flushHeaders();
    this.raw(`retry: ${retryMs}\n\n`);
  }

  /** Live entries from the shared reader. */
  deliver(entries: StreamEntry[]): void {
    if (this.catchingUp) this.pending.push(...entries);
    else this.writeAll(entries);
  }

  /** Replayed entries, then whatever arrived live meanwhile; from then on, live only. */
  finishCatchUp(replayed: StreamEntry[]): void {
    this.writeAll(replayed);
    const pending = this.pending;
    this.pending = [];
    this.catchingUp = false;
    this.writeAll(pending);
  }

  resync(atId: string, reason: string): void {
    this.raw(
      `id: ${atId}\nevent: resync\ndata: ${JSON.stringify({ type: 'resync', session_id: this.sessionId, reason })}\n\n`,
    );
    if (compareStreamIds(atId, this.lastSentId) > 0) this.lastSentId = atId;
  }

  heartbeat(): void {
    this.raw(':\n\n');
  }

  /** Ends the stream with a retry hint (shutdown) or after a resync (overflow). */
  close(retryMs?: number): void {
    if (this.closed) return;
    if (retryMs !== undefined) this.raw(`retry: ${retryMs}\n\n`);
    this.closed = true;
    this.res.end();
  }

  private writeAll(entries: StreamEntry[]): void {
    for (const entry of entries) {
      if (this.closed) return;
      if (compareStreamIds(entry.id, this.lastSentId) <= 0) continue;
      this.lastSentId = entry.id;
      this.raw(`id: ${entry.id}\nevent: ${entry.type}\ndata: ${entry.data}\n\n`);
      const ts = Date.parse((JSON.parse(entry.data) as { ts?: string }).ts ?? '');
      if (!Number.isNaN(ts)) this.options.onLag(Math.max(0, (Date.now() - ts) / 1000));
    }
  }

  private raw(text: string): void {
    if (this.closed) return;
    this.res.write(text);
    if (this.res.writableLength > this.options.bufferLimitBytes) this.options.onOverflow();
  }
}
