/** What every benchmark item gets: options, pinning, the disturbance check, the shared PKI, a log. */
import { DisturbanceMonitor, undisturbed } from './lib/disturbance.js';
import type { Pinning } from './lib/pinning.js';
import type { Sample } from './lib/results.js';
import type { Options } from './options.js';
import type { BenchPki } from './peers/pki.js';

/** Credentials and group used against every gateway. */
export const BENCH_USER = { user: 'bench', password: 'bench-secret-1', group: 'Employees' };

export interface BenchContext {
  opts: Options;
  pinning: Pinning;
  pki: BenchPki;
  log(msg: string): void;
  /**
   * Runs one measurement, repeating it when other work disturbed it; `fn` returns the value and
   * details to keep.
   */
  sample(label: string, fn: () => Promise<{ value: number; detail?: Record<string, unknown> }>): Promise<Sample>;
  monitor: DisturbanceMonitor;
}

export function makeContext(opts: Options, pinning: Pinning, pki: BenchPki): BenchContext {
  const t0 = Date.now();
  const log = (msg: string): void => {
    process.stderr.write(`[bench +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
  };
  const monitor = new DisturbanceMonitor(opts.threshold);
  return {
    opts,
    pinning,
    pki,
    log,
    monitor,
    async sample(label, fn) {
      const r = await undisturbed(monitor, opts.retries, fn, (d, attempt) =>
        log(`${label}: disturbed (outside ${d.outside} cores, steal ${d.steal}; top ${d.top.map((x) => `${x.comm}:${x.cores}`).join(' ')}); repeating (${attempt}/${opts.retries})`),
      );
      const s: Sample = { value: r.value.value, attempts: r.attempts, disturbance: r.disturbance };
      if (r.value.detail) s.detail = r.value.detail;
      log(`${label}: ${+r.value.value.toFixed(3)}${r.disturbance.disturbed ? ' (disturbed)' : ''}`);
      return s;
    },
  };
}
