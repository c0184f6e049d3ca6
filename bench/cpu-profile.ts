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
  byPackage: [string, number][];
  byFunction: [string, number][];
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

export function summariseCpuProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000),
  );
  const packages = new Map<string, number>();
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
    const short = url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/');
    const key = `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`;
    functions.set(key, (functions.get(key) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs: total,
    busyMs: total - idle,
    byPackage: sorted(packages),
    byFunction: sorted(functions),
  };
}

export function printProfileSummary(title: string, summary: ProfileSummary): void {
  const pct = (ms: number) => `${((100 * ms) / summary.busyMs).toFixed(1)} %`;
  process.stdout.write(
    `\n${title}: ${(summary.totalMs / 1000).toFixed(1)} s profiled, ${(summary.busyMs / 1000).toFixed(1)} s busy (not idle); self time, % of busy:\n`,
  );
  printTable(
    ['package', 'self ms', '% busy'],
    summary.byPackage.map(([p, ms]) => [p, ms.toFixed(0), pct(ms)]),
  );
  printTable(
    ['function', 'self ms', '% busy'],
    summary.byFunction.map(([f, ms]) => [f.slice(0, 140), ms.toFixed(0), pct(ms)]),
  );
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: cpu-profile <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  printProfileSummary(file, summariseCpuProfile(file, Number(process.argv[3] ?? 30)));
}
