import { createTestApp, type TestApp } from './support/test-app';

interface OpenApiDocument {
  openapi: string;
  paths: Record<
    string,
    Record<string, { security?: unknown[]; responses: Record<string, unknown> }>
  >;
  components: {
    schemas: Record<string, { properties?: Record<string, { example?: unknown }> }>;
    securitySchemes: Record<string, unknown>;
  };
}

describe('OpenAPI document and Swagger UI (e2e)', () => {
  let t: TestApp;
  let doc: OpenApiDocument;

  beforeAll(async () => {
    t = await createTestApp();
    doc = (await t.http.get('/docs-json').expect(200)).body;
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves Swagger UI at /docs without credentials', async () => {
    const res = await t.http.get('/docs').redirects(1).expect(200);
    expect(res.text).toContain('swagger-ui');
  });

  it('lists every route of the API contract', () => {
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /v1/auth/register',
        'POST /v1/auth/login',
        'POST /v1/auth/refresh',
        'POST /v1/auth/logout',
        'GET /v1/me',
        'GET /v1/my/projects',
        'POST /v1/my/projects',
        'GET /v1/my/projects/{projectId}',
        'PATCH /v1/my/projects/{projectId}',
        'DELETE /v1/my/projects/{projectId}',
        'GET /v1/agent-templates',
        'GET /v1/my/projects/{projectId}/agents',
        'POST /v1/my/projects/{projectId}/agents',
        'PATCH /v1/my/projects/{projectId}/agents/{agentId}',
        'GET /v1/my/projects/{projectId}/agents/{agentId}/memory',
        'DELETE /v1/my/projects/{projectId}/agents/{agentId}/memory/{memoryId}',
        'GET /v1/my/projects/{projectId}/sessions',
        'POST /v1/my/projects/{projectId}/sessions',
        'PATCH /v1/my/projects/{projectId}/sessions/{sessionId}',
        'DELETE /v1/my/projects/{projectId}/sessions/{sessionId}',
        'GET /v1/my/projects/{projectId}/sessions/{sessionId}/messages',
        'POST /v1/my/projects/{projectId}/sessions/{sessionId}/messages',
        'GET /v1/my/projects/{projectId}/sessions/{sessionId}/runs',
        'GET /v1/my/projects/{projectId}/sessions/{sessionId}/runs/{runId}',
        'POST /v1/my/projects/{projectId}/sessions/{sessionId}/runs/{runId}/cancel',
      ]),
    );
    expect(doc.openapi).toMatch(/^3\./);
  });

  it('declares the bearer scheme and uses it on protected routes only', () => {
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.paths['/v1/my/projects'].get.security).toEqual([{ bearer: [] }]);
    // Public routes say so: no security requirement at all.
    expect(doc.paths['/v1/auth/login'].post.security).toEqual([]);
    expect(doc.paths['/v1/agent-templates'].get.security).toEqual([]);
  });

  it('documents DTOs in snake_case with examples, and problem+json errors', () => {
    const session = doc.components.schemas.AuthSessionDto.properties ?? {};
    expect(Object.keys(session)).toEqual(
      expect.arrayContaining(['access_token', 'refresh_token', 'expires_in', 'user']),
    );
    expect(session.access_token.example).toBeDefined();
    const project = doc.components.schemas.ProjectDto.properties ?? {};
    expect(Object.keys(project)).toEqual(
      expect.arrayContaining(['id', 'name', 'created_at', 'updated_at']),
    );
    expect(doc.components.schemas.ProblemDto.properties).toHaveProperty('code');
    expect(doc.paths['/v1/my/projects/{projectId}'].get.responses['404']).toMatchObject({
      content: {
        'application/problem+json': { schema: { $ref: '#/components/schemas/ProblemDto' } },
      },
    });
  });
});
