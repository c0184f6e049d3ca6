/**
 * Baseline for the SSE benchmark: a bare Node SSE server fed by an in-process emitter, no Redis,
 * no framework. Env: PORT, SESSIONS, RATE (events/s per session), DURATION_MS.
 */
import { EventEmitter } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';

const port = Number(process.env.PORT);
const emitter = new EventEmitter();
emitter.setMaxListeners(0);
let seq = 0;

const server = createServer((req, res: ServerResponse) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/start') {
    const sessions = Number(url.searchParams.get('sessions'));
    const rate = Number(url.searchParams.get('rate'));
    const duration = Number(url.searchParams.get('duration'));
    const until = Date.now() + duration;
    const timer = setInterval(() => {
      if (Date.now() > until) return clearInterval(timer);
      for (let s = 0; s < sessions; s++) {
        const data = JSON.stringify({
          type: 'token',
          session_id: String(s),
          ts: new Date().toISOString(),
          payload: { text: 'x ' },
        });
        emitter.emit(String(s), `id: ${++seq}-0\nevent: token\ndata: ${data}\n\n`);
      }
    }, 1000 / rate);
    res.end('ok');
    return;
  }
  const session = url.searchParams.get('session') ?? '0';
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write('retry: 3000\n\n');
  const listener = (frame: string) => res.write(frame);
  emitter.on(session, listener);
  req.on('close', () => emitter.off(session, listener));
});
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
