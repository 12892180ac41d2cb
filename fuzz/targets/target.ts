/** What every fuzz target provides (registry: fuzz/targets/index.ts). */
export interface FuzzTarget {
  readonly name: string;
  /** one line for --list and the README */
  readonly description: string;
  /** longest input the mutator produces */
  readonly maxLen: number;
  /** protocol keywords inserted by the mutator */
  readonly dictionary?: readonly string[];
  /** URL substrings of the scripts whose block coverage guides this target */
  readonly covers: readonly string[];
  /** seeds made in code (in addition to the files in fuzz/corpus/<name>/) */
  seeds?(): Buffer[];
  /** Runs one input. Throws only when the code under test broke its contract. */
  run(data: Buffer): void;
}

/** Thrown by a target when a parser returned something its contract rules out. */
export class ContractViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContractViolation';
  }
}

export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new ContractViolation(message);
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Runs fn; an error of one of the documented classes is an allowed outcome (returns undefined),
 * anything else propagates and is a finding.
 */
export function allowing<T>(allowed: readonly ErrorClass[], fn: () => T, onError?: (e: Error) => void): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (allowed.some((c) => e instanceof c)) {
      onError?.(e as Error);
      return undefined;
    }
    throw e;
  }
}

/** Chunk sizes derived from a byte: the same stream cut at different places. */
export function cuts(data: Buffer, pattern: number): Buffer[] {
  if (pattern === 0) return [data];
  const out: Buffer[] = [];
  let pos = 0;
  let s = pattern;
  while (pos < data.length) {
    s = (s * 1103515245 + 12345) >>> 0;
    const n = 1 + ((s >>> 16) % (pattern & 1 ? 7 : 97));
    out.push(data.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}
