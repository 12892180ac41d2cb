/**
 * The gateway's memory: the resident set of the `sslgate serve` process and every process under
 * it (the gateway is being split into a privileged parent and an unprivileged network process),
 * summed, sampled on a fixed period. Shared pages count once per process: a sum, not PSS, so the
 * figure errs on the high side.
 */
import { readFileSync } from 'node:fs';
import { allProcStats, descendants } from '../lib/proc.js';

/** VmRSS of one process in bytes, or null when it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : 0; // a zombie has no VmRSS line
  } catch {
    return null;
  }
}

export interface RssSample {
  /** ms since the sampler started */
  t: number;
  bytes: number;
  processes: number;
}

export class RssSampler {
  readonly samples: RssSample[] = [];
  peak: RssSample = { t: 0, bytes: 0, processes: 0 };
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly rootPid: number, private readonly periodMs: number, private readonly onSample?: (s: RssSample) => void) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.periodMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The highest sample taken since `sinceMs` (sampler time), or null. */
  peakSince(sinceMs: number): RssSample | null {
    let best: RssSample | null = null;
    for (const s of this.samples) if (s.t >= sinceMs && (!best || s.bytes > best.bytes)) best = s;
    return best;
  }

  now(): number {
    return Date.now() - this.t0;
  }

  private sample(): void {
    const pids = descendants(allProcStats(), this.rootPid);
    let bytes = 0;
    let processes = 0;
    for (const pid of pids) {
      const b = rssBytes(pid);
      if (b === null) continue;
      bytes += b;
      processes++;
    }
    if (processes === 0) return; // the gateway is gone
    const s: RssSample = { t: this.now(), bytes, processes };
    this.samples.push(s);
    if (s.bytes > this.peak.bytes) this.peak = s;
    this.onSample?.(s);
  }
}
