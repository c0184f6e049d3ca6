import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import {
  type AppConfig,
  buildProblem,
  HTTP_CLIENT_ERRORS,
  PROBLEM_CONTENT_TYPE,
} from '@codelab/platform';

export type HttpServerLimits = Pick<
  AppConfig['http'],
  'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'maxHeaderBytes'
>;

/** What a connection cut before the app saw a request is counted as. */
export type ClientErrorReason = 'timeout' | 'headers_too_large' | 'malformed';

const CLIENT_ERRORS: Record<string, { status: number; code: string; reason: ClientErrorReason }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'REQUEST_TIMEOUT', reason: 'timeout' },
  HPE_HEADER_OVERFLOW: { status: 431, code: 'HEADERS_TOO_LARGE', reason: 'headers_too_large' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    reason: 'malformed',
  },
};
const MALFORMED = { status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' } as const;

const DETAILS: Record<number, string> = {
  408: 'The request was not received in time',
  413: 'A chunk extension exceeds the size limit',
  431: 'The request line and headers exceed the size limit',
  400: 'The request is not valid HTTP',
};

/** The configured limits on a Nest app's HTTP server, rejections counted in its metrics. */
export function hardenHttpServer(app: NestExpressApplication, config: AppConfig): void {
  const clientErrors = app.get<Counter<string>>(getToken(HTTP_CLIENT_ERRORS));
  applyHttpServerLimits(app.getHttpServer(), config.http, (reason) => clientErrors.inc({ reason }));
}

/**
 * Limits Node's HTTP server enforces before a request reaches Express, on any server of ours:
 *
 * - `headersTimeout`: a client has this long from connecting (or from the first byte of the next
 *   request on a kept-alive connection) to finish the request line and headers, however slowly it
 *   dribbles them: a slowloris client is answered 408 and cut.
 * - `requestTimeout`: the same for the whole request, body included (a slow upload). It bounds
 *   *receiving* the request only: a response may take as long as it likes, so SSE streams live on.
 * - `keepAliveTimeout`: idle time between requests on one connection. Above the usual load
 *   balancer idle timeout (60 s), so the balancer never reuses a connection we are closing.
 * - `maxHeaderSize`: request line plus headers; beyond it 431.
 *
 * Node checks the two timeouts on a timer (`connectionsCheckingInterval`, 30 s by default, far too
 * coarse for a 20 s bound); it runs here at a quarter of the shorter timeout, at most once a second.
 * Those rejections are problem+json like every other error, and counted. Once the server is closing,
 * connections are closed as soon as they go idle, so a long keep-alive cannot hold up shutdown.
 * Call before `listen` (the check interval is read when the server starts listening).
 */
export function applyHttpServerLimits(
  server: Server,
  limits: HttpServerLimits,
  onClientError?: (reason: ClientErrorReason) => void,
): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Two createServer() options Nest gives no way to pass. Node keeps them as properties of the
  // server and reads them later: maxHeaderSize for each new connection's parser,
  // connectionsCheckingInterval when the server starts listening. The e2e tests pin both.
  const options = server as Server & {
    maxHeaderSize?: number;
    connectionsCheckingInterval?: number;
  };
  options.maxHeaderSize = limits.maxHeaderBytes;
  options.connectionsCheckingInterval = Math.min(
    1_000,
    Math.max(100, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4)),
  );

  // Replaces Node's default handling (a bare status line), which only runs without a listener.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE') {
      socket.destroy();
      return;
    }
    const kind = CLIENT_ERRORS[error.code ?? ''] ?? MALFORMED;
    onClientError?.(kind.reason);
    // Only when nothing of a response went out yet (a body that arrives too slowly after the app
    // already answered is just cut).
    if (socket.writable && (socket as Duplex & { bytesWritten?: number }).bytesWritten === 0) {
      socket.write(rawProblemResponse(kind.status, kind.code));
    }
    socket.destroy();
  });

  const close = server.close.bind(server);
  server.close = ((callback?: (error?: Error) => void) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    sweep.unref();
    server.once('close', () => clearInterval(sweep));
    return close(callback);
  }) as Server['close'];
}

/** A complete HTTP/1.1 problem+json response, for a socket that has no request object. */
function rawProblemResponse(status: number, code: string): string {
  const requestId = randomUUID();
  const body = JSON.stringify(
    buildProblem({
      status,
      code,
      title: STATUS_CODES[status],
      detail: DETAILS[status] ?? 'The request was rejected',
      // The request target is unknown (it never was parsed completely).
      instance: '',
      requestId,
    }),
  );
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${requestId}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}
