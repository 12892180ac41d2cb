/**
 * Byte-level mutations in the style of libFuzzer's MutationDispatcher: bit flips, interesting
 * values, inserts, erases, copies, splices with another corpus entry, and dictionary tokens
 * (protocol keywords each target declares, so text formats get past their first checks).
 */
import type { Rng } from './rng.js';

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0d, 0x0a, 0x20, 0x3c, 0x3e, 0x25, 0x3a, 0x22, 0x26, 0x30, 0x39];
const INTERESTING16 = [0x0000, 0x0001, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xffff, 0x3fff, 0x4000, 0x3ff8, 0x2000];

export interface MutationContext {
  rng: Rng;
  maxLen: number;
  dictionary: readonly Buffer[];
  /** another corpus entry, for splicing */
  other(): Buffer;
}

function insert(data: Buffer, at: number, bytes: Buffer): Buffer {
  return Buffer.concat([data.subarray(0, at), bytes, data.subarray(at)]);
}

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rng.below(256);
  return b;
}

function mutateOnce(input: Buffer, c: MutationContext): Buffer {
  const { rng } = c;
  const len = input.length;
  const pos = (): number => rng.below(len);
  switch (rng.below(len === 0 ? 2 : 13)) {
    case 0: // insert random bytes
      return insert(input, rng.below(len + 1), randomBytes(rng, 1 + rng.below(rng.chance(4) ? 64 : 4)));
    case 1: { // insert a dictionary token (or random bytes without one)
      const tok = c.dictionary.length ? c.dictionary[rng.below(c.dictionary.length)]! : randomBytes(rng, 1 + rng.below(4));
      return insert(input, rng.below(len + 1), tok);
    }
    case 2: { // flip a bit
      const out = Buffer.from(input);
      const p = pos();
      out[p] = out[p]! ^ (1 << rng.below(8));
      return out;
    }
    case 3: { // random byte
      const out = Buffer.from(input);
      out[pos()] = rng.below(256);
      return out;
    }
    case 4: { // interesting byte
      const out = Buffer.from(input);
      out[pos()] = INTERESTING[rng.below(INTERESTING.length)]!;
      return out;
    }
    case 5: { // interesting 16-bit value, either byte order (lengths in binary formats)
      if (len < 2) return mutateOnce(input, c);
      const out = Buffer.from(input);
      const p = rng.below(len - 1);
      const v = INTERESTING16[rng.below(INTERESTING16.length)]!;
      if (rng.chance(2)) out.writeUInt16BE(v, p);
      else out.writeUInt16LE(v, p);
      return out;
    }
    case 6: { // add/subtract a small amount to a byte (length fields, counters)
      const out = Buffer.from(input);
      const p = pos();
      out[p] = (out[p]! + rng.below(33) - 16) & 0xff;
      return out;
    }
    case 7: { // erase a range
      const at = pos();
      const n = 1 + rng.below(Math.min(len - at, rng.chance(4) ? 128 : 8));
      return Buffer.concat([input.subarray(0, at), input.subarray(at + n)]);
    }
    case 8: { // duplicate a range somewhere else
      const at = pos();
      const n = 1 + rng.below(Math.min(len - at, 64));
      return insert(input, rng.below(len + 1), Buffer.from(input.subarray(at, at + n)));
    }
    case 9: { // overwrite a range with another range of the same input
      const from = pos();
      const to = pos();
      const n = 1 + rng.below(Math.min(len - from, len - to, 32));
      const out = Buffer.from(input);
      input.copy(out, to, from, from + n);
      return out;
    }
    case 10: { // splice: head of this input, tail of another corpus entry
      const o = c.other();
      const cut = rng.below(len + 1);
      return Buffer.concat([input.subarray(0, cut), o.subarray(rng.below(o.length + 1))]);
    }
    case 11: { // overwrite with a dictionary token
      if (c.dictionary.length === 0) return mutateOnce(input, c);
      const tok = c.dictionary[rng.below(c.dictionary.length)]!;
      const out = Buffer.from(input);
      tok.copy(out, pos());
      return out;
    }
    default: { // truncate
      return input.subarray(0, rng.below(len + 1));
    }
  }
}

/** 1 to 8 stacked mutations, capped at maxLen. */
export function mutate(input: Buffer, c: MutationContext): Buffer {
  let out = input;
  const n = 1 + (c.rng.chance(2) ? 0 : c.rng.below(8));
  for (let i = 0; i < n; i++) out = mutateOnce(out, c);
  return out.length > c.maxLen ? out.subarray(0, c.maxLen) : out;
}
