import { OpenAIEmbeddings } from '@langchain/openai';
import { type Embedder, l2Normalise } from './embedder';

/** OpenAI (or any OpenAI-compatible) embeddings, normalised so dot product is cosine. */
export class OpenAiEmbedder implements Embedder {
  readonly model: string;
  private readonly client: OpenAIEmbeddings;

  constructor(options: {
    apiKey: string;
    baseUrl?: string;
    model: string;
    dimensions: number;
    timeoutMs: number;
  }) {
    this.model = `openai:${options.model}:${options.dimensions}`;
    this.dimensions = options.dimensions;
    this.client = new OpenAIEmbeddings({
      apiKey: options.apiKey || 'not-needed',
      model: options.model,
      dimensions: options.dimensions,
      timeout: options.timeoutMs,
      maxRetries: 2,
      configuration: options.baseUrl ? { baseURL: options.baseUrl } : undefined,
    });
  }

  readonly dimensions: number;

  async embed(texts: string[]): Promise<number[][]> {
    const vectors = await this.client.embedDocuments(texts);
    return vectors.map(l2Normalise);
  }
}
