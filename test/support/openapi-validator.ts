import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type request from 'supertest';

type Schema = Record<string, unknown>;
interface MediaType {
  schema?: Schema;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
}
interface Operation {
  operationId?: string;
  responses: Record<string, ResponseObject>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  operation: Operation;
}

const REF_PREFIX = '#/components/schemas/';
const DOCUMENT_ID = 'openapi';

/**
 * A copy of a schema the validator can hold responses to: refs point into the registered
 * components, and objects with declared properties are closed, so a field the server sends but the
 * document does not describe is drift too (the generated client would not know it).
 */
function strictCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strictCopy);
  if (!value || typeof value !== 'object') return value;
  const schema: Schema = {};
  for (const [key, inner] of Object.entries(value as Schema)) {
    // `properties` and `example` hold names and data, not schemas keyed by keyword.
    if (key === 'properties')
      schema[key] = Object.fromEntries(
        Object.entries(inner as Schema).map(([name, s]) => [name, strictCopy(s)]),
      );
    else if (key === 'example' || key === 'examples') continue;
    else if (key === '$ref' && typeof inner === 'string' && inner.startsWith(REF_PREFIX))
      schema[key] = `${DOCUMENT_ID}${inner}`;
    else schema[key] = strictCopy(inner);
  }
  if (schema.properties && schema.additionalProperties === undefined)
    schema.additionalProperties = false;
  return schema;
}

const mediaTypeOf = (res: request.Response): string | undefined =>
  (res.headers['content-type'] as string | undefined)?.split(';')[0].trim().toLowerCase();

const isJson = (media: string) => /^application\/(.+\+)?json$/.test(media);

/**
 * Holds every response a test receives to the OpenAPI document the app serves: the operation
 * declares the status, the media type, and the body matches the schema. Requests to routes the
 * document leaves out on purpose (probes, /docs, unknown paths) are not checked.
 */
export class OpenApiResponseValidator {
  private readonly routes: Route[] = [];
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  checked = 0;

  constructor(document: OpenApiDocument) {
    this.ajv = new Ajv({ allErrors: true, strictSchema: false, strictTypes: false });
    addFormats(this.ajv);
    this.ajv.addSchema(
      { $id: DOCUMENT_ID, components: { schemas: strictCopy(document.components?.schemas ?? {}) } },
      DOCUMENT_ID,
    );
    for (const [template, item] of Object.entries(document.paths)) {
      const pattern = new RegExp(
        '^' + template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+') + '$',
      );
      for (const [method, operation] of Object.entries(item))
        this.routes.push({ method: method.toUpperCase(), template, pattern, operation });
    }
  }

  /**
   * Drift seen so far: a caller that retries on errors (e.g. polling with waitFor) would swallow
   * the thrown one, so the test app also fails its close() with these.
   */
  readonly drift: string[] = [];

  /** Throws an error naming the drift when the response breaks the document. */
  check(method: string, url: string, res: request.Response): void {
    try {
      this.checkOrThrow(method, url, res);
    } catch (error) {
      this.drift.push((error as Error).message);
      throw error;
    }
  }

  private checkOrThrow(method: string, url: string, res: request.Response): void {
    const path = new URL(url, 'http://localhost').pathname;
    const route = this.routes.find((r) => r.method === method && r.pattern.test(path));
    if (!route) return;
    const where = `${method} ${route.template} -> ${res.status}`;
    const declared =
      route.operation.responses[String(res.status)] ?? route.operation.responses.default;
    if (!declared)
      throw new Error(
        `OpenAPI drift: ${where} is not a documented status (documented: ${Object.keys(route.operation.responses).join(', ')})`,
      );
    this.checked++;
    const media = mediaTypeOf(res);
    const content = declared.content;
    const hasBody =
      (res.text ?? '').length > 0 || (Buffer.isBuffer(res.body) && res.body.length > 0);
    if (!content) {
      if (hasBody)
        throw new Error(
          `OpenAPI drift: ${where} has a ${media} body the document does not declare`,
        );
      return;
    }
    if (!hasBody && res.status === 304) return;
    const mediaType =
      media &&
      (content[media] ??
        Object.entries(content).find(
          ([range]) => range.endsWith('/*') && media.startsWith(range.slice(0, -1)),
        )?.[1]);
    if (!mediaType)
      throw new Error(
        `OpenAPI drift: ${where} answered ${media ?? 'no content type'}, documented: ${Object.keys(content).join(', ')}`,
      );
    if (!media || !isJson(media) || !mediaType.schema) return;
    const key = `${method} ${route.template} ${res.status} ${media}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(strictCopy(mediaType.schema) as Schema);
      this.compiled.set(key, validate);
    }
    // A test that buffers the body as bytes (e.g. a file route) still gets a JSON error checked.
    const body: unknown = Buffer.isBuffer(res.body)
      ? JSON.parse((res.body as Buffer).toString('utf8'))
      : res.body;
    if (!validate(body))
      throw new Error(
        `OpenAPI drift: ${where} body breaks the documented schema: ${(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`).join('; ')}\n${JSON.stringify(body).slice(0, 2_000)}`,
      );
  }
}

const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete', 'head', 'options']);

/**
 * supertest whose every request also asserts that the response matches the document. The check is
 * the first assertion of each request, so a test's own `.expect()` still runs after it.
 */
export function validatingAgent<T extends object>(
  agent: T,
  validator: OpenApiResponseValidator,
): T {
  return new Proxy(agent, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof property !== 'string' || !METHODS.has(property) || typeof value !== 'function')
        return value;
      return (...args: unknown[]) => {
        const test = (value as (...a: unknown[]) => request.Test).apply(target, args);
        const method = property.toUpperCase();
        return test.expect((res: request.Response) => validator.check(method, test.url, res));
      };
    },
  });
}
