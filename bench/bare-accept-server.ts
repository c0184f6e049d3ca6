/**
 * Baseline process for the accept-path benchmark: a bare node:http server whose only route,
 * POST /v1/my/projects/:project/sessions/:session/messages, runs createBareAccept() (the product's
 * SQL, plain `pg`, queue.add). It stands where the API process stands, behind the same HTTP
 * client, so product and bare differ only by the framework, the ORM and the product's guards.
 * Env: PORT, DATABASE_URL, REDIS_URL, BULL_PREFIX, OWNER_ID (no auth: every request is this user).
 */
import { createServer } from 'node:http';
import { createBareAccept } from './bare-accept';

const ROUTE = /^\/v1\/my\/projects\/([0-9a-f-]{36})\/sessions\/([0-9a-f-]{36})\/messages$/;

async function main(): Promise<void> {
  const bare = await createBareAccept({
    databaseUrl: process.env.DATABASE_URL ?? '',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    prefix: process.env.BULL_PREFIX ?? 'codelab-bench:bare',
  });
  const ownerId = process.env.OWNER_ID ?? '';
  const server = createServer((req, res) => {
    const match = ROUTE.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
      };
      let content: string;
      try {
        content = String(
          (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { content: unknown }).content,
        );
      } catch {
        send(400, { title: 'Bad Request' });
        return;
      }
      bare
        .accept({ projectId: match[1], ownerId, sessionId: match[2], content })
        .then(({ status, body }) => send(status, body))
        .catch((error: Error) => send(500, { title: error.message }));
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'));
  const stop = () => {
    server.close();
    void bare.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
