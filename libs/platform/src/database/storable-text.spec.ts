import { isStorableText, toStorable, unstorableAt } from './storable-text';

describe('storable text', () => {
  it('refuses NUL and lone surrogates, accepts proper pairs', () => {
    expect(isStorableText('plain ✓ 😀')).toBe(true);
    expect(isStorableText('a\u0000b')).toBe(false);
    expect(isStorableText('\ud800')).toBe(false);
    expect(isStorableText('x\udc00')).toBe(false);
    expect(isStorableText('\ud83d\ude00')).toBe(true);
  });

  it('finds the first bad place in a JSON value, keys included', () => {
    expect(unstorableAt({ a: [1, 'ok', { b: 'x\u0000' }] })).toBe('$.a[2].b');
    expect(unstorableAt({ ['k\ud800']: 1 })).toBe('$."k\\ud800"');
    expect(unstorableAt({ a: 'fine', n: null, d: 3 })).toBeNull();
  });

  it('repairs a copy with U+FFFD, leaving the original alone', () => {
    const original = { text: 'a\u0000b', list: ['\ud800'], ok: 1 };
    expect(toStorable(original)).toEqual({ text: 'a\uFFFDb', list: ['\uFFFD'], ok: 1 });
    expect(original.text).toBe('a\u0000b');
  });
});
