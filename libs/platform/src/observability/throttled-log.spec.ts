import { ThrottledLog } from './throttled-log';

describe('ThrottledLog', () => {
  afterEach(() => jest.useRealTimers());

  it('logs a key once per interval and reports how many repeats it held back', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const lines: string[] = [];
    const log = new ThrottledLog(
      { warn: (m: string) => lines.push(m), error: () => undefined },
      5_000,
    );
    for (let i = 0; i < 100; i++) log.warn('redis', 'Redis down');
    expect(lines).toEqual(['Redis down']);
    jest.advanceTimersByTime(5_000);
    log.warn('redis', 'Redis down');
    expect(lines).toEqual(['Redis down', 'Redis down (99 similar since the last report)']);
  });

  it('keeps keys apart', () => {
    const lines: string[] = [];
    const log = new ThrottledLog({ warn: (m: string) => lines.push(m), error: () => undefined });
    log.warn('a', 'first cause');
    log.warn('b', 'second cause');
    log.warn('a', 'first cause');
    expect(lines).toEqual(['first cause', 'second cause']);
  });
});
