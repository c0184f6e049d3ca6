const BATCH_MS = 25;

/**
 * Coalesces streamed text deltas: the first goes out at once (time to first token), later ones
 * in windows of 25 ms, one event (one stream append) per window instead of one per token.
 */
export class TokenBatcher {
  private pending = '';
  private first = true;
  private timer?: NodeJS.Timeout;

  constructor(private readonly emit: (text: string) => void) {}

  push(text: string): void {
    this.pending += text;
    if (this.first) {
      this.first = false;
      this.flush();
    } else {
      this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
    }
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending) return;
    this.emit(this.pending);
    this.pending = '';
  }
}
