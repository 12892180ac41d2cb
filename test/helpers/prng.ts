/**
 * Random test inputs from a logged seed: each use prints its seed, and SSLGATE_TEST_SEED=<seed>
 * replays it. (mulberry32: small, fast, good enough to pick bytes for garbage tests.)
 */
import { randomBytes } from 'node:crypto';

export interface Prng {
  readonly seed: number;
  /** 0 <= n < max */
  int(max: number): number;
  bytes(n: number): Buffer;
}

export function seededRandom(label: string): Prng {
  const fromEnv = process.env['SSLGATE_TEST_SEED'];
  const seed = fromEnv !== undefined && /^\d+$/.test(fromEnv) ? Number(fromEnv) >>> 0 : randomBytes(4).readUInt32BE(0);
  process.stderr.write(`# ${label}: random seed ${seed} (replay with SSLGATE_TEST_SEED=${seed})\n`);
  let a = seed;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    int: (max) => Math.floor(next() * max),
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
  };
}
