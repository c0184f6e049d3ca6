import { overlaps } from './plan-scheduler';

describe('writes overlap', () => {
  it.each([
    [['docs/**'], ['docs/a.md'], true],
    [['src/a/**'], ['src/**/*.test.ts'], true],
    [['src/a*'], ['src/*b'], true],
    [['docs/a.md'], ['docs/a.md'], true],
    [['docs/a.md'], ['docs/b.md'], false],
    [['docs/**'], ['src/x.ts'], false],
    [['src/**'], ['srcx/y.ts'], false],
    [[], ['src/**'], false],
  ])('%j vs %j: %s', (a, b, expected) => {
    expect(overlaps(a, b)).toBe(expected);
    expect(overlaps(b, a)).toBe(expected);
  });
});
