/**
 * Baseline process for the HTTP benchmark: bare node:http doing what the product must do for two
 * routes, nothing more. GET /health answers {"status":"ok"}; GET /v1/my/projects/:id verifies the
 * product's HS256 access token (signature, expiry, issuer, audience) with node:crypto and reads the
 * project by id AND owner with one `pg` query, answering the same JSON fields as the product.
 * Env: PORT, DATABASE_URL, JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { Pool } from 'pg';

const PROJECT = /^\/v1\/my\/projects\/([0-9a-f-]{36})$/;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** The subject of a valid access token, or null. */
function verify(header: string | undefined, secret: string): string | null {
  if (!header?.startsWith('Bearer ')) return null;
  const [head, payload, signature] = header.slice(7).split('.');
  if (!head || !payload || !signature) return null;
  const expected = createHmac('sha256', secret).update(`${head}.${payload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
    sub?: string;
    exp?: number;
    iss?: string;
    aud?: string;
    typ?: string;
  };
  if (JSON.parse(Buffer.from(head, 'base64url').toString('utf8')).alg !== 'HS256') return null;
  if (!claims.exp || claims.exp * 1000 < Date.now()) return null;
  if (claims.iss !== process.env.JWT_ISSUER || claims.aud !== process.env.JWT_AUDIENCE) return null;
  return claims.typ === 'access' ? (claims.sub ?? null) : null;
}

function main(): void {
  const secret = process.env.JWT_SECRET ?? '';
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/health') return send(res, 200, { status: 'ok' });
    const match = req.method === 'GET' ? PROJECT.exec(req.url ?? '') : null;
    if (!match) return send(res, 404, { status: 404 });
    const owner = verify(req.headers.authorization, secret);
    if (!owner) return send(res, 401, { status: 401 });
    pool
      .query(
        'select id, name, description, settings, created_at, updated_at from projects where id = $1 and owner_id = $2',
        [match[1], owner],
      )
      .then(
        ({ rows: [row] }) => {
          if (!row) return send(res, 404, { status: 404 });
          send(res, 200, {
            id: row.id,
            name: row.name,
            description: row.description,
            settings: row.settings ?? {},
            created_at: row.created_at.toISOString(),
            updated_at: row.updated_at.toISOString(),
          });
        },
        () => send(res, 503, { status: 503 }),
      );
  });
  server.keepAliveTimeout = 65_000;
  server.listen(Number(process.env.PORT), '127.0.0.1');
}

main();
