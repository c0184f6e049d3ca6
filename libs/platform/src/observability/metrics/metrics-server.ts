import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { register } from 'prom-client';
import { buildProblem, PROBLEM_CONTENT_TYPE } from '../../errors/problem-details';

export const METRICS_PATH = '/metrics';

/**
 * The API process's Prometheus endpoint on a port of its own (METRICS_PORT), so `/metrics` is
 * never reachable through the public API port and its ingress. A bare Node server: no guards,
 * no rate limit, no request logs. It serves `GET /metrics` (and HEAD) from prom-client's global
 * registry, and problem+json 404/405 for anything else. The entry point starts it after the API
 * listens; it closes with the app.
 */
@Injectable()
export class MetricsServer implements OnApplicationShutdown {
  readonly server: Server = createServer((req, res) => void this.handle(req, res));

  /** Listens on `port` (all interfaces, like the API); resolves with the bound port. */
  async listen(port: number, host?: string): Promise<number> {
    const listening = once(this.server, 'listening'); // rejects on 'error' (EADDRINUSE, ...)
    this.server.listen(port, host);
    await listening;
    return (this.server.address() as AddressInfo).port;
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.server.listening) return;
    const closed = once(this.server, 'close');
    this.server.close();
    // A scrape is short and harmless to cut; keep-alive connections must not hold shutdown.
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH) return sendProblem(res, 404, path, 'Only /metrics is served here');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendProblem(res, 405, path, `${req.method} is not allowed on /metrics`);
    }
    try {
      const body = await register.metrics();
      res.writeHead(200, {
        'Content-Type': register.contentType,
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      sendProblem(res, 500, path, 'Collecting the metrics failed');
    }
  }
}

function sendProblem(res: ServerResponse, status: number, instance: string, detail: string): void {
  const requestId = randomUUID();
  const body = JSON.stringify(buildProblem({ status, detail, instance, requestId }));
  res.writeHead(status, {
    'Content-Type': PROBLEM_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(body),
    'X-Request-Id': requestId,
  });
  res.end(body);
}
