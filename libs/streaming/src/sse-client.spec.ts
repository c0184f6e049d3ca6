import type { Response } from 'express';
import { SseClient } from './sse-client';

/** A response whose socket never drains: everything written stays buffered. */
function stalledResponse() {
  const written: string[] = [];
  const res = {
    writableLength: 0,
    ended: false,
    status() {
      return this;
    },
    setHeader() {},
    flushHeaders() {},
    write(chunk: string) {
      written.push(chunk);
      this.writableLength += Buffer.byteLength(chunk);
      return false;
    },
    end() {
      this.ended = true;
    },
  };
  return { res, written };
}

const entry = (id: string, text = 'x') => ({
  id,
  type: 'token',
  data: JSON.stringify({ type: 'token', ts: new Date().toISOString(), payload: { text } }),
});

describe('SseClient', () => {
  it('writes each id once and in order, replay first, then what arrived live meanwhile', () => {
    const { res, written } = stalledResponse();
    const client = new SseClient('s', res as unknown as Response, {
      bufferLimitBytes: 1e9,
      onLag: () => undefined,
      onOverflow: () => undefined,
    });
    client.start(3000);
    client.deliver([entry('5-0'), entry('6-0')]);
    client.finishCatchUp([entry('3-0'), entry('4-0'), entry('5-0')]);
    client.deliver([entry('6-0'), entry('7-0')]);
    const ids = written.flatMap((w) => (/^id: (\S+)/.exec(w) ? [/^id: (\S+)/.exec(w)?.[1]] : []));
    expect(ids).toEqual(['3-0', '4-0', '5-0', '6-0', '7-0']);
    expect(written[0]).toBe('retry: 3000\n\n');
  });

  it('reports overflow once a slow client buffers more than the limit', () => {
    const { res } = stalledResponse();
    let overflows = 0;
    const client = new SseClient('s', res as unknown as Response, {
      bufferLimitBytes: 2_000,
      onLag: () => undefined,
      onOverflow: () => {
        overflows++;
        client.close();
      },
    });
    client.start(3000);
    client.finishCatchUp([]);
    for (let i = 1; i <= 100 && !client.closed; i++)
      client.deliver([entry(`${i}-0`, 'y'.repeat(100))]);
    expect(overflows).toBe(1);
    expect(client.closed).toBe(true);
    expect(res.ended).toBe(true);
    expect(res.writableLength).toBeLessThan(3_000);
  });
});
