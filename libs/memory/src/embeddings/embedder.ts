/** Turns texts into L2-normalised vectors of a fixed dimension. */
export interface Embedder {
  /** Identifies the vector space; vectors of different models are never compared. */
  readonly model: string;
  readonly dimensions: number;
  embed(texts: string[]): Promise<number[][]>;
}

export const EMBEDDER = Symbol('EMBEDDER');

export function l2Normalise(vector: number[]): number[] {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.sqrt(sum);
  return norm === 0 ? vector : vector.map((v) => v / norm);
}
