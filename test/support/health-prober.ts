import { probe } from './child-process';

export interface ProbeTarget {
  name: string;
  /** Base URL of the process now (a restarted worker has a new port); undefined skips a round. */
  url: () => string | undefined;
}

interface Sample {
  target: string;
  at: number;
  ms: number;
  status: number | null;
  error?: string;
}

export interface ProbeSummary {
  probes: number;
  failures: number;
  max_latency_ms: number;
  /** The first few failures: when (ms after `from`), status or error, latency. */
  first_failures: { at_ms: number; status: number | null; error?: string; ms: number }[];
}

/**
 * Polls `/health` of each target every `intervalMs` with a `timeoutMs` timeout, one request at a
 * time per target, and records latency and failures (non-200, timeout, refused).
 */
export class HealthProber {
  private readonly samples: Sample[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly targets: ProbeTarget[],
    private readonly intervalMs = 250,
    private readonly timeoutMs = 1_000,
    private readonly path = '/health',
  ) {}

  start(): void {
    this.running = true;
    this.loops = this.targets.map((t) => this.loop(t));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(target: ProbeTarget): Promise<void> {
    while (this.running) {
      const started = Date.now();
      const base = target.url();
      if (base) {
        const r = await probe(`${base}${this.path}`, this.timeoutMs);
        this.samples.push({ target: target.name, at: started, ...r });
      }
      const wait = Math.max(0, this.intervalMs - (Date.now() - started));
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** Per target, over probes started in [from, to). */
  summary(from = 0, to = Number.MAX_SAFE_INTEGER): Record<string, ProbeSummary> {
    const out: Record<string, ProbeSummary> = {};
    for (const t of this.targets) {
      const mine = this.samples.filter((s) => s.target === t.name && s.at >= from && s.at < to);
      const failed = mine.filter((s) => s.status !== 200 || s.ms >= this.timeoutMs);
      out[t.name] = {
        probes: mine.length,
        failures: failed.length,
        max_latency_ms: Math.round(Math.max(0, ...mine.map((s) => s.ms))),
        first_failures: failed.slice(0, 5).map((s) => ({
          at_ms: s.at - from,
          status: s.status,
          ...(s.error ? { error: s.error } : {}),
          ms: Math.round(s.ms),
        })),
      };
    }
    return out;
  }
}
