/**
 * Random test inputs from a logged seed, so that a failure can be replayed.
 *
 * Every test process draws one seed (or takes SSLGATE_TEST_SEED) and prints it once, on first
 * use, to stderr: `test seed: 1a2b... (replay: SSLGATE_TEST_SEED=1a2b...)`. Each caller asks for
 * a stream by label (`seeded('cstp garbage')`); a label's stream depends only on the seed and the
 * label, and a stream made inside one test replays when that test runs alone. A stream shared by
 * a file replays when the file runs with the same seed.
 *
 * The stream is AES-256-CTR over zeros keyed by SHA-256(seed, label): fast enough for
 * megabytes of transfer payload, and the same bytes on every machine.
 *
 * Randomness that only makes names unique (temp dirs, namespaces) does not need this.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';

export const SEED_ENV = 'SSLGATE_TEST_SEED';

let seed: string | null = null;

/** The seed of this test process (hex), printed once. */
export function testSeed(): string {
  if (seed === null) {
    const given = process.env[SEED_ENV]?.trim();
    if (given !== undefined && given !== '' && !/^[0-9a-f]{1,64}$/i.test(given)) {
      throw new Error(`${SEED_ENV} must be 1-64 hex digits, got ${JSON.stringify(given)}`);
    }
    seed = given ? given.toLowerCase() : randomBytes(8).toString('hex');
    process.stderr.write(`test seed: ${seed} (replay: ${SEED_ENV}=${seed})\n`);
  }
  return seed;
}

/** Key and IV of a label's stream (for a child process that makes the same bytes). */
export function streamKey(label: string): { key: Buffer; iv: Buffer } {
  const d = createHash('sha512').update(testSeed()).update('\0').update(label).digest();
  return { key: d.subarray(0, 32), iv: d.subarray(32, 48) };
}

export class SeededRandom {
  private readonly cipher;
  constructor(readonly label: string) {
    const { key, iv } = streamKey(label);
    this.cipher = createCipheriv('aes-256-ctr', key, iv);
  }

  /** `n` bytes of the stream (a fresh buffer). */
  bytes(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }

  /** A whole number in [0, max). */
  int(max: number): number {
    if (!Number.isInteger(max) || max <= 0 || max > 2 ** 32) throw new RangeError(`int(${max})`);
    // 48 bits of the stream: the bias for max <= 2^32 is below 2^-16, irrelevant for tests.
    return this.bytes(6).readUIntBE(0, 6) % max;
  }
}

/** The stream for `label`; the first call in a process logs the seed. */
export function seeded(label: string): SeededRandom {
  return new SeededRandom(label);
}
