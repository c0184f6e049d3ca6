/**
 * PostgreSQL text cannot hold NUL, and jsonb refuses lone UTF-16 surrogates (and NUL escapes):
 * such input must be refused (4xx) or repaired before it reaches a statement, never a 5xx.
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what is looked for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** Where in a JSON value the first unstorable string (or key) is, like `edited_args.path`; null if none. */
export function unstorableAt(value: unknown, at = '$'): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : at;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = unstorableAt(item, `${at}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (!isStorableText(key)) return `${at}.${JSON.stringify(key)}`;
      const found = unstorableAt(item, `${at}.${key}`);
      if (found) return found;
    }
  }
  return null;
}

/** A copy with every unstorable character (in strings and keys) replaced by U+FFFD. */
export function toStorable<T>(value: T): T {
  if (typeof value === 'string') return value.replace(UNSTORABLE_ALL, '\uFFFD') as T;
  if (Array.isArray(value)) return value.map((item) => toStorable(item)) as T;
  if (value && typeof value === 'object' && !(value instanceof Date))
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [toStorable(k), toStorable(v)]),
    ) as T;
  return value;
}
