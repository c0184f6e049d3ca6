/**
 * Fault injection for the crash tests: `CODELAB_CRASH_AT=<point>[#<n>]` makes the process kill
 * itself (SIGKILL, no clean-up, exactly like `kill -9`) the n-th time (default: first) it passes
 * that point. Unset in production, where each call is one map lookup.
 */
const spec = process.env.CODELAB_CRASH_AT ?? '';
const [target, nth] = spec.split('#');
const wanted = Number(nth ?? 1);
let passes = 0;

export function crashPoint(point: string): void {
  if (!target || point !== target) return;
  passes++;
  if (passes === wanted) process.kill(process.pid, 'SIGKILL');
}
