import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Histogram } from 'prom-client';
import { requestIdOf } from './request-id.middleware';

const BODY = JSON.stringify({ status: 'ok' });

/**
 * Liveness is answered by the HTTP server's own request listener, before Express and Nest: a
 * probe costs what it costs on a bare server and cannot queue behind the framework pipeline. It
 * checks nothing (an outage of a dependency must not restart pods); it still echoes the request
 * id and is counted in the request-duration histogram like every other route.
 */
export function answerLivenessFirst(server: Server, histogram: Histogram<string>): void {
  const framework = server.listeners('request') as ((
    req: IncomingMessage,
    res: ServerResponse,
  ) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    const liveness = url === '/health' || url.startsWith('/health?');
    if (!liveness || (req.method !== 'GET' && req.method !== 'HEAD')) {
      for (const listener of framework) listener.call(server, req, res);
      return;
    }
    const end = histogram.startTimer();
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(BODY),
      'Cache-Control': 'no-store',
      'X-Request-Id': requestIdOf(req),
    });
    res.end(req.method === 'HEAD' ? undefined : BODY);
    end({ method: req.method, route: '/health', status_code: '200' });
  });
}
