import { type Embedder, l2Normalise } from './embedder';

const STOPWORDS = new Set(
  'a an and are as at be but by do does for from has have how i in is it its me my of on or so that the this to was we what when where which who why will with you your'.split(
    ' ',
  ),
);

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Deterministic, offline embeddings: hashed word unigrams and character trigrams (the "hashing
 * trick" with signed buckets), L2-normalised. Texts that share words score higher; shared
 * trigrams give partial credit to word variants (deploy / deployment). No model download.
 */
export class LocalHashEmbedder implements Embedder {
  readonly model: string;

  constructor(readonly dimensions = 384) {
    this.model = `local-hash-v1-${dimensions}`;
  }

  async embed(texts: string[]): Promise<number[][]> {
    return texts.map((t) => this.embedOne(t));
  }

  embedOne(text: string): number[] {
    const vector = new Array<number>(this.dimensions).fill(0);
    const words = text
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .split(/[^\p{L}\p{N}]+/u)
      .filter((w) => w.length > 0 && !STOPWORDS.has(w));
    const add = (feature: string, weight: number) => {
      const h = fnv1a(feature);
      vector[h % this.dimensions] += h & 0x80000000 ? -weight : weight;
    };
    for (const word of words) {
      add(`w:${word}`, 1);
      const padded = `#${word}#`;
      for (let i = 0; i + 3 <= padded.length; i++) add(`c:${padded.slice(i, i + 3)}`, 0.35);
    }
    return l2Normalise(vector);
  }
}
