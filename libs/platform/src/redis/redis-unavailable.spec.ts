import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { isRedisUnavailable } from './redis-unavailable';

async function freePortForSpec(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

describe('isRedisUnavailable', () => {
  it.each([
    ['a closed connection', new Error('Connection is closed.')],
    [
      'the retry cap',
      Object.assign(
        new Error(
          'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.',
        ),
        { name: 'MaxRetriesPerRequestError' },
      ),
    ],
    [
      'no offline queue',
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
    ],
    ['AOF replay after a restart', new Error('LOADING Redis is loading the dataset in memory')],
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    ],
  ])('recognises %s', (_name, error) => {
    expect(isRedisUnavailable(error)).toBe(true);
  });

  it.each([
    ['a script error', new Error('ERR Error running script (call to f_...): @user_script:1: bad')],
    [
      'a wrong type',
      new Error('WRONGTYPE Operation against a key holding the wrong kind of value'),
    ],
    ['a non-error', 'Connection is closed'],
  ])('does not mistake %s for an outage', (_name, error) => {
    expect(isRedisUnavailable(error)).toBe(false);
  });

  it('recognises what a real client throws when nothing listens', async () => {
    const client = new Redis(`redis://127.0.0.1:${await freePortForSpec()}`, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    const error = await client.ping().then(
      () => null,
      (e: unknown) => e,
    );
    client.disconnect();
    expect(isRedisUnavailable(error)).toBe(true);
  });
});
