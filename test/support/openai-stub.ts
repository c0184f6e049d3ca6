import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** What the stub does for one request to /v1/chat/completions. */
export type StubBehaviour =
  | {
      kind: 'stream';
      tokens: string[];
      usage?: { prompt_tokens: number; completion_tokens: number };
    }
  | { kind: 'tool_call'; name: string; args: Record<string, unknown> }
  /**
   * Several tool calls in one turn, streamed the way OpenAI does: each call's id and name first,
   * then its `arguments` string in `pieces` deltas, the calls' deltas interleaved. `arguments` is
   * sent as given (it need not be valid JSON).
   */
  | { kind: 'tool_calls'; calls: { name: string; arguments: string }[]; pieces?: number }
  | { kind: 'status'; status: number; retryAfter?: string; body?: unknown }
  | { kind: 'hang' }
  | { kind: 'hang_after_first_token'; token: string }
  | { kind: 'malformed' };

/**
 * How the stub serves /v1/embeddings: like many vLLM, Ollama and gateway set-ups that serve chat
 * only (`missing`: 404; `empty`: 200 with no data), or with real vectors (`ok`).
 */
export type EmbeddingsBehaviour = 'missing' | 'empty' | 'ok';

/**
 * A local OpenAI-compatible HTTP server for tests: each chat request takes the next scripted
 * behaviour (the last one repeats). Records every request it receives.
 */
export class OpenAiStub {
  readonly requests: { path: string; body: Record<string, unknown> }[] = [];
  embeddings: EmbeddingsBehaviour = 'ok';
  private script: StubBehaviour[] = [];
  private readonly sockets = new Set<import('node:net').Socket>();
  private server?: Server;

  get baseUrl(): string {
    const { port } = this.server?.address() as { port: number };
    return `http://127.0.0.1:${port}/v1`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server?.close();
    if (this.server) await once(this.server, 'close');
  }

  /** Replaces the script and forgets recorded requests. */
  respondWith(...script: StubBehaviour[]): void {
    this.script = script;
    this.requests.length = 0;
  }

  private next(): StubBehaviour {
    return this.script.length > 1
      ? (this.script.shift() as StubBehaviour)
      : (this.script[0] ?? { kind: 'stream', tokens: ['ok'] });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    this.requests.push({ path: req.url ?? '', body });
    if (req.url?.endsWith('/embeddings')) return this.embed(body, res);
    const behaviour = this.next();
    const model = typeof body.model === 'string' ? body.model : 'stub';
    const chunk = (
      delta: Record<string, unknown>,
      finish: string | null = null,
      extra: Record<string, unknown> = {},
    ) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-stub', object: 'chat.completion.chunk', created: 0, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
    const sse = () =>
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });

    switch (behaviour.kind) {
      case 'status':
        res.writeHead(behaviour.status, {
          'content-type': 'application/json',
          ...(behaviour.retryAfter ? { 'retry-after': behaviour.retryAfter } : {}),
        });
        res.end(
          JSON.stringify(
            behaviour.body ?? {
              error: { message: `stub status ${behaviour.status}`, type: 'stub_error' },
            },
          ),
        );
        return;
      case 'hang':
        return; // never answers; the client must time out
      case 'hang_after_first_token':
        sse();
        res.write(chunk({ role: 'assistant', content: behaviour.token }));
        return;
      case 'malformed':
        sse();
        res.write('data: {"id": "chatcmpl-stub", "choices": [ this is not json\n\n');
        res.end();
        return;
      case 'tool_calls': {
        sse();
        const pieces = behaviour.pieces ?? 3;
        behaviour.calls.forEach((call, index) =>
          res.write(
            chunk({
              ...(index === 0 ? { role: 'assistant', content: null } : {}),
              tool_calls: [
                {
                  index,
                  id: `call_stub_${index + 1}`,
                  type: 'function',
                  function: { name: call.name, arguments: '' },
                },
              ],
            }),
          ),
        );
        for (let p = 0; p < pieces; p++)
          behaviour.calls.forEach((call, index) => {
            const size = Math.ceil(call.arguments.length / pieces);
            const part = call.arguments.slice(p * size, (p + 1) * size);
            if (part) res.write(chunk({ tool_calls: [{ index, function: { arguments: part } }] }));
          });
        res.write(chunk({}, 'tool_calls'));
        res.write('data: [DONE]\n\n');
        res.end();
        return;
      }
      case 'tool_call':
        sse();
        res.write(
          chunk({
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                index: 0,
                id: 'call_stub_1',
                type: 'function',
                function: { name: behaviour.name, arguments: '' },
              },
            ],
          }),
        );
        res.write(
          chunk({
            tool_calls: [{ index: 0, function: { arguments: JSON.stringify(behaviour.args) } }],
          }),
        );
        res.write(chunk({}, 'tool_calls'));
        res.write('data: [DONE]\n\n');
        res.end();
        return;
      case 'stream': {
        sse();
        res.write(chunk({ role: 'assistant', content: '' }));
        for (const token of behaviour.tokens) res.write(chunk({ content: token }));
        res.write(chunk({}, 'stop'));
        const usage = behaviour.usage ?? {
          prompt_tokens: 7,
          completion_tokens: behaviour.tokens.length,
        };
        res.write(
          `data: ${JSON.stringify({ id: 'chatcmpl-stub', object: 'chat.completion.chunk', created: 0, model, choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } })}\n\n`,
        );
        res.write('data: [DONE]\n\n');
        res.end();
        return;
      }
    }
  }

  private embed(body: Record<string, unknown>, res: ServerResponse): void {
    const json = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (this.embeddings === 'missing')
      return json(404, { error: { message: 'Not Found', type: 'invalid_request_error' } });
    if (this.embeddings === 'empty') return json(200, { object: 'list', data: [] });
    const inputs = Array.isArray(body.input) ? body.input : [body.input];
    const dimensions = typeof body.dimensions === 'number' ? body.dimensions : 8;
    json(200, {
      object: 'list',
      model: body.model,
      data: inputs.map((text, index) => {
        // Deterministic and non-zero: one component per character code, folded.
        const vector = Array.from(
          { length: dimensions },
          (_, i) =>
            String(text).charCodeAt(i % Math.max(1, String(text).length)) / 128 + (i % 7) / 10,
        );
        return {
          object: 'embedding',
          index,
          // The OpenAI SDK asks for base64 (little-endian float32) unless told otherwise.
          embedding:
            body.encoding_format === 'base64'
              ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
              : vector,
        };
      }),
      usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
    });
  }
}
