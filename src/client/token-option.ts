/**
 * `--token-mode=totp --token-secret=VALUE` to a code source, before any network traffic so a bad
 * secret fails at once. VALUE is a secret (token-secret.ts) or, as with openconnect (`main.c`
 * init_token), `@FILE` or an absolute path `/FILE` holding one.
 */
import { readFileSync, statSync } from 'node:fs';
import { ClientError } from './errors.js';
import type { Progress } from './progress.js';
import { MAX_TOKEN_SECRET_CHARS, parseTokenSecret, TokenSecretError } from './token-secret.js';
import { TotpSource } from './token-source.js';

function readSecretFile(file: string): string {
  try {
    // (a secret file is a few bytes; refuse to slurp something else by mistake)
    const size = statSync(file).size;
    if (size > MAX_TOKEN_SECRET_CHARS + 2) throw new ClientError(`--token-secret file ${file} is too big (${size} bytes) to hold a token secret`);
    return readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof ClientError) throw e;
    throw new ClientError(`--token-secret: cannot read ${file}: ${(e as Error).message}`);
  }
}

export function loadTokenSource(mode: string, value: string | undefined, progress: Progress): TotpSource {
  if (mode !== 'totp') throw new ClientError(`--token-mode=${mode} is not supported; sslgate generates TOTP codes only (--token-mode=totp)`);
  if (value === undefined || value === '') throw new ClientError('--token-mode=totp needs --token-secret (base32:SECRET, 0xHEX or @FILE)');
  const fromFile = value.startsWith('@') || value.startsWith('/');
  const text = fromFile ? readSecretFile(value.startsWith('@') ? value.slice(1) : value) : value;
  try {
    const secret = parseTokenSecret(text);
    const how = {
      base32: 'base32',
      hex: 'hex',
      raw: 'its characters (no base32:/0x prefix, as openconnect reads it)',
      'bare-base32': 'base32 (no prefix; openconnect would want base32:)',
    }[secret.form];
    progress.info(`TOTP secret: ${secret.key.length} bytes read as ${how}, HMAC-${secret.algorithm.toUpperCase()}`);
    if (secret.form === 'raw' && /^[A-Za-z2-7 ]{16,}=*$/.test(text.trim())) {
      // Lower case or spaced base32 is read as characters (openconnect does the same): say so.
      progress.warn('--token-secret has no base32: prefix, so its characters are the key (as openconnect reads it); if it is a base32 secret, write base32:SECRET');
    }
    return new TotpSource(secret);
  } catch (e) {
    if (e instanceof TokenSecretError) throw new ClientError(`--token-secret: ${e.message}`);
    throw e;
  }
}
