/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by package (node_modules/<pkg>, the
 * product's libs, node internals, GC, idle) and by function. `npm run bench:cpu-profile -- <file>`
 * prints both for a profile written by `BENCH_PROFILE=1 npm run bench:runs`.
 */
import { readFileSync } from 'node:fs';
import { printTable } from './support';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Busy = not idle. */
  busyMs: number;
  byCategory: [string, number][];
  byPackage: [string, number][];
  byFunction: [string, number][];
}

/** Coarse layers, for "where does a request's CPU go". */
export function categoryOf(pkg: string, functionName: string): string {
  if (pkg === '(idle)') return '(idle)';
  if (pkg === '(garbage collector)') return 'GC';
  if (/^@mikro-orm\/|^kysely$/.test(pkg)) return 'ORM (MikroORM, Kysely)';
  if (/^pg(-.*)?$|^postgres-/.test(pkg)) return 'pg driver';
  if (/^(ioredis|bullmq|redis-|cluster-key-slot|msgpackr)/.test(pkg))
    return 'Redis clients (ioredis, BullMQ)';
  if (
    /^(@nestjs\/|express$|router$|body-parser$|class-validator$|class-transformer$|rxjs$|reflect-metadata$|passport|jsonwebtoken$|jws$|jwa$|path-to-regexp$|qs$|raw-body$|iconv-lite$|on-finished$|finalhandler$|send$|type-is$|content-type$|mime|accepts$|negotiator$|ms$|safe-buffer$|depd$|debug$)/.test(
      pkg,
    )
  )
    return 'HTTP framework (Nest, Express, validation, passport/JWT)';
  if (/^(pino|prom-client|@willsoto|nestjs-pino|sonic-boom|thread-stream)/.test(pkg))
    return 'logging, metrics';
  if (pkg.startsWith('codelab:')) return 'product code (dist/libs, dist/apps)';
  if (pkg === 'node:internal') return 'Node internals (http, net, streams, crypto, timers)';
  if (pkg === '(native)') {
    if (/^write|^writev$|^writeBuffer$|^writeUtf8String$/.test(functionName))
      return 'socket writes (native write calls)';
    return 'other native (crypto, microtask runner, ...)';
  }
  if (pkg === '(program)') return '(program: V8 outside JS)';
  return 'other packages';
}

export function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node:internal';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  const own = /\/dist\/(libs\/[^/]+|apps\/[^/]+|bench|mikro-orm\.config)/.exec(url);
  if (own) return `codelab:${own[1]}`;
  return url;
}

export function summariseCpuProfile(file: string, top = 40): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000),
  );
  const packages = new Map<string, number>();
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of self) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const { functionName, url, lineNumber } = frame;
    total += ms;
    if (functionName === '(idle)') idle += ms;
    const pkg = packageOf(url, functionName);
    packages.set(pkg, (packages.get(pkg) ?? 0) + ms);
    const category = categoryOf(pkg, functionName);
    categories.set(category, (categories.get(category) ?? 0) + ms);
    const short = url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/');
    const key = `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`;
    functions.set(key, (functions.get(key) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs: total,
    busyMs: total - idle,
    byCategory: sorted(categories).filter(([c]) => c !== '(idle)'),
    byPackage: sorted(packages),
    byFunction: sorted(functions),
  };
}

/** Prints the summary; with `units` (requests, steps), also CPU ms per unit. */
export function printProfileSummary(
  title: string,
  summary: ProfileSummary,
  units?: { count: number; name: string },
  top = 25,
): void {
  const pct = (ms: number) => `${((100 * ms) / summary.busyMs).toFixed(1)} %`;
  const per = (ms: number) => (units ? (ms / units.count).toFixed(3) : '');
  const perHead = units ? [`ms per ${units.name}`] : [];
  process.stdout.write(
    `\n${title}: ${(summary.totalMs / 1000).toFixed(1)} s profiled, ${(summary.busyMs / 1000).toFixed(2)} s busy (not idle)` +
      `${units ? `, ${per(summary.busyMs)} ms busy per ${units.name} (${units.count})` : ''}; self time:\n`,
  );
  const rows = (entries: [string, number][]) =>
    entries
      .slice(0, top)
      .map(([k, ms]) => [k.slice(0, 130), ms.toFixed(0), pct(ms), ...(units ? [per(ms)] : [])]);
  printTable(['layer', 'self ms', '% busy', ...perHead], rows(summary.byCategory));
  printTable(
    ['package', 'self ms', '% busy', ...perHead],
    rows(summary.byPackage.filter(([p]) => p !== '(idle)')),
  );
  printTable(
    ['function', 'self ms', '% busy', ...perHead],
    rows(summary.byFunction.filter(([f]) => !f.startsWith('(idle)'))),
  );
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: cpu-profile <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const top = Number(process.argv[3] ?? 30);
  printProfileSummary(file, summariseCpuProfile(file, top + 1), undefined, top);
}
