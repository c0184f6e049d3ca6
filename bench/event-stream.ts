import { request } from 'node:http';

/** How long a bench waits for one event before it gives up. */
export const SAMPLE_TIMEOUT_MS = 30_000;

export interface Envelope {
  type: string;
  session_id: string;
  run_id: string | null;
  agent_id: string | null;
  ts: string;
  payload: Record<string, unknown>;
}

export interface Frame {
  id: string;
  type: string;
  data: Envelope;
  /** Arrival: performance.now() and Date.now() when the chunk carrying it was read. */
  perf: number;
  wall: number;
}

/** One SSE connection; frames in order of arrival, and waiting for one that matches. */
export class EventStream {
  readonly frames: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];

  private constructor(private readonly close_: () => void) {}

  static open(url: string, token: string): Promise<EventStream> {
    return new Promise((resolve, reject) => {
      let stream: EventStream | undefined;
      const req = request(
        url,
        {
          headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
          agent: false,
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return reject(new Error(`SSE answered ${res.statusCode}`));
          }
          stream = new EventStream(() => req.destroy());
          const s = stream;
          let buffer = '';
          res.setEncoding('utf8');
          res.on('error', () => undefined);
          res.on('data', (chunk: string) => {
            const perf = performance.now();
            const wall = Date.now();
            buffer += chunk;
            let i: number;
            while ((i = buffer.indexOf('\n\n')) >= 0) {
              const frame = buffer.slice(0, i);
              buffer = buffer.slice(i + 2);
              const type = /^event: (.*)$/m.exec(frame)?.[1];
              const data = /^data: (.*)$/m.exec(frame)?.[1];
              if (!type || !data) continue; // retry hints, heartbeats
              s.push({
                id: /^id: (.*)$/m.exec(frame)?.[1] ?? '',
                type,
                data: JSON.parse(data) as Envelope,
                perf,
                wall,
              });
            }
          });
          resolve(s);
        },
      );
      req.on('error', (error) => {
        if (!stream) reject(error);
      });
      req.end();
    });
  }

  private push(frame: Frame): void {
    this.frames.push(frame);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(frame)) return true;
      w.resolve(frame);
      return false;
    });
  }

  /** The first frame (already arrived or still to come) that matches. */
  waitFor(what: string, match: (f: Frame) => boolean, timeoutMs = SAMPLE_TIMEOUT_MS) {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for ${what}; got ${this.frames.map((f) => f.type).join(', ')}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  first(match: (f: Frame) => boolean): Frame | undefined {
    return this.frames.find(match);
  }

  close(): void {
    this.close_();
  }
}
