import { ConnectionException, UniqueConstraintViolationException } from '@mikro-orm/core';
import { DatabaseUnavailableError, isDatabaseUnavailable } from './database-unavailable';

const withCode = (message: string, code?: string) => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['connection refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['connection reset', withCode('read ECONNRESET', 'ECONNRESET')],
    ['admin shutdown', withCode('terminating connection due to administrator command', '57P01')],
    [
      'crash shutdown',
      withCode('terminating connection because of crash of another server process', '57P02'),
    ],
    ['starting up', withCode('the database system is starting up', '57P03')],
    ['too many connections', withCode('sorry, too many clients already', '53300')],
    ['connection failure class 08', withCode('connection failure', '08006')],
    ['pool acquisition timeout', new Error('timeout exceeded when trying to connect')],
    ['dropped connection', new Error('Connection terminated unexpectedly')],
    ['MikroORM ConnectionException', new ConnectionException(new Error('x'))],
    ['wrapped in a cause', new Error('outer', { cause: withCode('refused', 'ECONNREFUSED') })],
    [
      'inside an AggregateError',
      new AggregateError([withCode('refused', 'ECONNREFUSED')], 'all failed'),
    ],
    ['our own error', new DatabaseUnavailableError()],
  ])('recognises %s', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    [
      'a unique violation',
      new UniqueConstraintViolationException(withCode('duplicate key', '23505')),
    ],
    ['a syntax error', withCode('syntax error at or near "selec"', '42601')],
    ['a plain error', new Error('something else')],
    ['a non-error', 'ECONNREFUSED'],
    ['null', null],
  ])('does not mistake %s for an outage', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
