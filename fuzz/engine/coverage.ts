/**
 * Coverage feedback from V8's own block coverage (node:inspector `Profiler.startPreciseCoverage`
 * with `detailed: true`), the same counters `c8`/`NODE_V8_COVERAGE` use. No instrumentation step
 * and no native code: see fuzz/README section in README.md for why we do not use jazzer.js here.
 *
 * A "feature" is one covered block (a source range that ran at least once) in a script we care
 * about. Taking coverage resets V8's counters, so each take() reports what ran since the last one.
 */
import { Session } from 'node:inspector';

interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  ranges: Range[];
}
interface ScriptCoverage {
  url: string;
  functions: FunctionCoverage[];
}

export class BlockCoverage {
  private readonly session = new Session();
  /** Every feature seen so far. */
  readonly seen = new Set<string>();

  /** `include`: a script counts when its URL contains one of these strings. */
  constructor(private readonly include: readonly string[]) {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** Features covered since the last call that were never seen before (not yet added to `seen`). */
  takeNew(): string[] {
    const result = this.post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] };
    const fresh: string[] = [];
    for (const script of result.result) {
      if (!this.include.some((s) => script.url.includes(s))) continue;
      for (const fn of script.functions) {
        const ranges = fn.ranges;
        if (ranges.length === 0 || ranges[0]!.count === 0) continue;
        for (const r of ranges) {
          if (r.count === 0) continue;
          const key = `${script.url}:${r.startOffset}:${r.endOffset}`;
          if (!this.seen.has(key)) fresh.push(key);
        }
      }
    }
    return fresh;
  }

  /** Discards what ran since the last take (e.g. set-up work). */
  reset(): void {
    this.post('Profiler.takePreciseCoverage');
  }

  private post(method: string, params?: object): unknown {
    // An in-thread inspector session answers synchronously: the callback has run when post returns.
    let out: unknown;
    let err: Error | null = null;
    this.session.post(method, params ?? {}, (e, r) => {
      err = e;
      out = r;
    });
    if (err) throw err;
    if (out === undefined) throw new Error(`inspector ${method} did not answer synchronously`);
    return out;
  }
}
