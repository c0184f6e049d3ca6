import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { waitFor } from './child-process';

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
  json: Record<string, unknown>;
}

/** A minimal EventSource over raw HTTP, recording frames, comments and retry hints. */
export class TestSseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly retries: number[] = [];
  status = 0;
  headers: IncomingMessage['headers'] = {};
  ended = false;
  body = '';
  private req?: ClientRequest;
  private buffer = '';

  constructor(
    private readonly url: string,
    private readonly headersToSend: Record<string, string> = {},
  ) {}

  /** Resolves once the response head arrived. */
  open(): Promise<this> {
    return new Promise((resolve, reject) => {
      this.req = httpRequest(
        this.url,
        { headers: { accept: 'text/event-stream', ...this.headersToSend } },
        (res) => {
          this.status = res.statusCode ?? 0;
          this.headers = res.headers;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (this.status !== 200) this.body += chunk;
            else this.parse(chunk);
          });
          res.on('end', () => (this.ended = true));
          res.on('close', () => (this.ended = true));
          resolve(this);
        },
      );
      this.req.on('error', (e) => (this.ended ? undefined : reject(e)));
      this.req.end();
    });
  }

  close(): void {
    this.req?.destroy();
    this.ended = true;
  }

  types(): string[] {
    return this.events.map((e) => e.event);
  }

  async waitForEvent(type: string, timeoutMs = 15_000): Promise<SseEvent> {
    await waitFor(
      `SSE event ${type}`,
      async () => this.events.some((e) => e.event === type),
      timeoutMs,
    );
    return this.events.find((e) => e.event === type) as SseEvent;
  }

  private parse(chunk: string): void {
    this.buffer += chunk;
    let idx: number;
    while ((idx = this.buffer.indexOf('\n\n')) >= 0) {
      const frame = this.buffer.slice(0, idx);
      this.buffer = this.buffer.slice(idx + 2);
      const event: Partial<SseEvent> & { dataLines: string[] } = { dataLines: [] };
      for (const line of frame.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line);
        else if (line.startsWith('retry: ')) this.retries.push(Number(line.slice(7)));
        else if (line.startsWith('id: ')) event.id = line.slice(4);
        else if (line.startsWith('event: ')) event.event = line.slice(7);
        else if (line.startsWith('data: ')) event.dataLines.push(line.slice(6));
      }
      if (event.event) {
        const data = event.dataLines.join('\n');
        this.events.push({
          id: event.id,
          event: event.event,
          data,
          json: JSON.parse(data) as Record<string, unknown>,
        });
      }
    }
  }
}

export function listenUrl(server: { address(): unknown }): string {
  const { port } = server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}
