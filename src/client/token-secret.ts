/**
 * `--token-secret` for `--token-mode=totp`, in the forms openconnect accepts (`oath.c`
 * set_totp_mode; openconnect(8) "--token-secret"):
 *
 *   [sha1:|sha256:|sha512:] then
 *     base32:SECRET   RFC 4648 base32 (openconnect wants it padded to a multiple of 8; we also
 *                     take it unpadded, in either case, with spaces between groups, as
 *                     authenticator apps show it)
 *     0xHEX           hex bytes (an odd count of digits gets a leading 0, as openconnect does)
 *     anything else   openconnect takes the characters themselves as the key. We do the same,
 *                     except for a value that is plainly base32 (16+ characters of A-Z, 2-7,
 *                     optional '=' padding): that is how `sslgate user totp` and every
 *                     authenticator show a secret, and as raw characters it would give wrong
 *                     codes without a word. The result says which reading was taken.
 *
 * `@FILE` (and a value starting with `/`) names a file holding one of these forms; reading it is
 * the caller's job (this module does no I/O). PSKC XML (`<?xml`) is not supported.
 */
import type { TotpAlgorithm } from './totp-code.js';
import { Base32Error, base32Decode } from '../protocol/base32.js';

export class TokenSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenSecretError';
  }
}

export interface TokenSecret {
  key: Buffer;
  algorithm: TotpAlgorithm;
  /** how the value was read, for the log (never the key itself) */
  form: 'base32' | 'hex' | 'raw' | 'bare-base32';
}

/** Longest value accepted: far above any real key (RFC 4226 recommends 160 bits = 32 base32 chars). */
export const MAX_TOKEN_SECRET_CHARS = 1024;

/**
 * RFC 4648 base32, case-insensitive, white space ignored, padding optional but only at the end
 * (the shared decoder, src/protocol/base32.ts, without its strict last-character check: openconnect
 * ignores the spare bits).
 */
export function decodeBase32(text: string): Buffer {
  try {
    return base32Decode(text.replace(/\s/g, ''), MAX_TOKEN_SECRET_CHARS, { strictTail: false });
  } catch (e) {
    if (e instanceof Base32Error) throw new TokenSecretError(`base32 secret: ${e.message}`);
    throw e;
  }
}

function decodeHex(hex: string): Buffer {
  if (!/^[0-9a-fA-F]*$/.test(hex)) throw new TokenSecretError('hex secret (0x...) has a character that is not a hex digit');
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}

/** A bare value that decodes as base32, else undefined (it is then taken as raw characters). */
function bareBase32(s: string): Buffer | undefined {
  try {
    return decodeBase32(s);
  } catch {
    return undefined;
  }
}

export function parseTokenSecret(value: string): TokenSecret {
  if (value.length > MAX_TOKEN_SECRET_CHARS) throw new TokenSecretError(`token secret is too long (${value.length} characters, at most ${MAX_TOKEN_SECRET_CHARS})`);
  // openconnect drops trailing white space (a file's newline).
  let s = value.replace(/\s+$/, '');
  if (s.startsWith('<?xml')) throw new TokenSecretError('PSKC (XML) token secrets are not supported; give base32:SECRET or 0xHEX');
  let algorithm: TotpAlgorithm = 'sha1';
  const alg = /^(sha1|sha256|sha512):/i.exec(s);
  if (alg) {
    algorithm = alg[1]!.toLowerCase() as TotpAlgorithm;
    s = s.slice(alg[0].length);
  }
  let key: Buffer;
  let form: TokenSecret['form'];
  if (/^base32:/i.test(s)) {
    key = decodeBase32(s.slice('base32:'.length));
    form = 'base32';
  } else if (s.startsWith('0x')) {
    key = decodeHex(s.slice(2));
    form = 'hex';
  } else {
    const b32 = /^[A-Z2-7]{16,}=*$/.test(s) ? bareBase32(s) : undefined;
    key = b32 ?? Buffer.from(s, 'utf8');
    form = b32 ? 'bare-base32' : 'raw';
  }
  if (key.length === 0) throw new TokenSecretError('token secret is empty');
  return { key, algorithm, form };
}
