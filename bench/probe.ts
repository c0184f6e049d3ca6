/**
 * Preload for a product process under benchmark (`node --require dist/bench/probe.js ...`). It
 * changes no product code; it wraps, in memory, what the benchmark needs to see from inside:
 *   - every `pg` query (send -> result, on the client) and pool checkout: MikroORM's Kysely
 *     dialect runs on `pg`, so this is each SQL statement the process issues, with its text;
 *   - ModelCaller.call (one model turn, all attempts) and every registered tool's execute(): the
 *     model and tool time that the tool-loop benchmark subtracts from the step cycle.
 * On SIGUSR2 it writes what it collected since the last dump to BENCH_PROBE_FILE (JSON: `Probe`)
 * and starts over, or runs the command left in `<BENCH_PROBE_FILE>.cmd` (start/stop the CPU
 * profiler, so a profile covers exactly a measured phase). Timestamps are epoch ms with sub-ms
 * precision (performance.timeOrigin + now).
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

export interface ProbedStatement {
  /** pg: a query; checkout: waiting for a pool connection; redis: one Redis command. */
  kind: 'pg' | 'checkout' | 'redis';
  at: number;
  ms: number;
  /** The SQL text, or the Redis command's name. */
  sql: string;
}

export interface ProbedCall {
  kind: 'llm' | 'tool';
  at: number;
  ms: number;
  /** Tools only: the run and the step (from the tool's context). */
  runId?: string;
  seq?: number;
}

export interface Probe {
  sql: ProbedStatement[];
  calls: ProbedCall[];
}

const file = process.env.BENCH_PROBE_FILE ?? `/tmp/codelab-bench-probe-${process.pid}.json`;
let probe: Probe = { sql: [], calls: [] };
const now = () => performance.timeOrigin + performance.now();
const normalise = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 2000);

function whenSettled(result: unknown, done: () => void): void {
  if (result && typeof (result as Promise<unknown>).then === 'function')
    (result as Promise<unknown>).then(done, done);
}

// --- pg ------------------------------------------------------------------------------------------
type Fn = (this: unknown, ...args: unknown[]) => unknown;
const clientProto = pg.Client.prototype as unknown as { query: Fn };
const query = clientProto.query;
clientProto.query = function probedQuery(this: unknown, ...args: unknown[]): unknown {
  const first = args[0] as string | { text?: unknown } | undefined;
  const text =
    typeof first === 'string'
      ? first
      : typeof first?.text === 'string'
        ? first.text
        : '(query object)';
  const at = now();
  const record = () => probe.sql.push({ kind: 'pg', at, ms: now() - at, sql: normalise(text) });
  const last = args.at(-1);
  if (typeof last === 'function') {
    args[args.length - 1] = function (this: unknown, ...cbArgs: unknown[]) {
      record();
      return (last as Fn).apply(this, cbArgs);
    };
    return query.apply(this, args);
  }
  const result = query.apply(this, args);
  whenSettled(result, record);
  return result;
};

const poolProto = pg.Pool.prototype as unknown as { connect: Fn };
const connect = poolProto.connect;
poolProto.connect = function probedConnect(this: unknown, ...args: unknown[]): unknown {
  const at = now();
  const result = connect.apply(this, args);
  whenSettled(result, () =>
    probe.sql.push({ kind: 'checkout', at, ms: now() - at, sql: '(pool checkout)' }),
  );
  return result;
};

const dist = join(__dirname, '..');
const load = createRequire(__filename);

// --- Redis (ioredis: the app's clients and BullMQ's; pipelines send each command through it too) --
try {
  const { Redis } = load('ioredis') as { Redis: { prototype: { sendCommand: Fn } } };
  const sendCommand = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function probedSend(this: unknown, ...args: unknown[]): unknown {
    const command = args[0] as { name?: string; promise?: Promise<unknown> };
    const at = now();
    const result = sendCommand.apply(this, args);
    // Blocking reads (the worker waiting for jobs) are not round trips of any request.
    if (command.name && !command.name.startsWith('b'))
      whenSettled(command.promise, () =>
        probe.sql.push({ kind: 'redis', at, ms: now() - at, sql: `(redis) ${command.name}` }),
      );
    return result;
  };
} catch {
  /* no ioredis */
}

// --- model and tools (absent modules are skipped: the probe must never break a process) --------
try {
  const { ModelCaller } = load(join(dist, 'libs/llm/src/resilience/model-caller')) as {
    ModelCaller: { prototype: { call: Fn } };
  };
  const call = ModelCaller.prototype.call;
  ModelCaller.prototype.call = function probedCall(this: unknown, ...args: unknown[]): unknown {
    const at = now();
    const result = call.apply(this, args);
    whenSettled(result, () => probe.calls.push({ kind: 'llm', at, ms: now() - at }));
    return result;
  };
} catch {
  /* not this build */
}
try {
  const { ToolRegistry } = load(join(dist, 'libs/tools/src/tool-registry')) as {
    ToolRegistry: { prototype: { register: Fn } };
  };
  const register = ToolRegistry.prototype.register;
  ToolRegistry.prototype.register = function probedRegister(this: unknown, ...args: unknown[]) {
    const tool = args[0] as { execute: Fn };
    const execute = tool.execute;
    tool.execute = function probedExecute(this: unknown, ...toolArgs: unknown[]): unknown {
      const ctx = toolArgs[1] as { runId?: string; stepSeq?: number } | undefined;
      const at = now();
      const result = execute.apply(this, toolArgs);
      whenSettled(result, () =>
        probe.calls.push({
          kind: 'tool',
          at,
          ms: now() - at,
          runId: ctx?.runId,
          seq: ctx?.stepSeq,
        }),
      );
      return result;
    };
    return register.apply(this, args);
  };
} catch {
  /* not this build */
}

// --- control: SIGUSR2 runs the command written in `${file}.cmd` (none: dump) -------------------
// `dump`: write what was collected to `file` and start over; `cpu-start`: start the V8 sampling
// profiler; `cpu-stop <path>`: stop it and write the .cpuprofile to <path>, then `${path}.done`.
let session: Session | undefined;

function command(text: string): void {
  const [name, arg] = text.trim().split(/\s+/, 2);
  if (name === 'cpu-start') {
    session = new Session();
    session.connect();
    session.post('Profiler.enable', () =>
      session?.post('Profiler.setSamplingInterval', { interval: 250 }, () =>
        session?.post('Profiler.start'),
      ),
    );
    return;
  }
  if (name === 'cpu-stop' && arg) {
    const s = session;
    session = undefined;
    s?.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(arg, JSON.stringify(result.profile));
      writeFileSync(`${arg}.done`, error ? String(error) : 'ok');
      s.disconnect();
    });
    return;
  }
  writeFileSync(`${file}.tmp`, JSON.stringify(probe));
  renameSync(`${file}.tmp`, file);
  probe = { sql: [], calls: [] };
}

process.on('SIGUSR2', () => {
  let text = 'dump';
  try {
    text = readFileSync(`${file}.cmd`, 'utf8');
    unlinkSync(`${file}.cmd`);
  } catch {
    /* no command file: dump */
  }
  command(text);
});
