/**
 * Base32 (RFC 4648 §6, the "A-Z2-7" alphabet), the text form of TOTP secrets in otpauth:// URIs
 * and authenticator apps. Pure: no I/O.
 *
 * Decoding is tolerant of what people paste (lower case, spaces between groups, with or without
 * '=' padding) and strict about the rest: a character outside the alphabet, '=' in the middle, a
 * length no encoder produces (1, 3 or 6 characters in the last group) or non-zero bits after the
 * last byte are errors with a clear message, and the input length is bounded.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Longest text base32Decode reads unless told otherwise (a 640-byte key; secrets are 10-64). */
export const MAX_BASE32_CHARS = 1024;

export class Base32Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Base32Error';
  }
}

/** Encodes bytes; `padding` adds the '=' of RFC 4648 (otpauth:// URIs leave it out). */
export function base32Encode(data: Uint8Array, padding = true): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  if (padding) while (out.length % 8 !== 0) out += '=';
  return out;
}

/** Decodes base32 text (see the file comment for what is tolerated). Throws Base32Error. */
export function base32Decode(text: string, maxChars = MAX_BASE32_CHARS, opts: { strictTail?: boolean } = {}): Buffer {
  if (text.length > maxChars) throw new Base32Error(`base32 text longer than ${maxChars} characters`);
  const compact = text.replace(/[ \t]/g, '').toUpperCase();
  const body = compact.replace(/=+$/, '');
  const pad = compact.length - body.length;
  if (pad > 6) throw new Base32Error('too much "=" padding');
  if (pad > 0 && compact.length % 8 !== 0) throw new Base32Error('"=" padding that does not end an 8-character group');
  const bad = body.search(/[^A-Z2-7]/);
  if (bad >= 0) {
    const c = body[bad]!;
    throw new Base32Error(c === '=' ? '"=" inside base32 text' : `character ${JSON.stringify(c)} at ${bad + 1} is not base32 (A-Z, 2-7)`);
  }
  const rest = body.length % 8;
  // 8 characters carry 5 bytes; a last group of 2, 4, 5 or 7 characters carries 1-4 bytes.
  if (rest === 1 || rest === 3 || rest === 6) throw new Base32Error(`${body.length} base32 characters: not a whole number of bytes`);
  const out = Buffer.alloc(Math.floor((body.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let n = 0;
  for (let i = 0; i < body.length; i++) {
    const v = ALPHABET.indexOf(body[i]!);
    value = ((value << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      out[n++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  // Strict by default (a secret we store or enrol); the client takes what openconnect takes.
  if (opts.strictTail !== false && (value & ((1 << bits) - 1)) !== 0) throw new Base32Error('the last base32 character has bits beyond the last byte (a typo?)');
  return out;
}
