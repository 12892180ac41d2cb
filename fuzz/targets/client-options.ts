/**
 * The client's login options (issue 10): `-F AUTHID:NAME=VALUE` (src/client/form-entries.ts) and
 * `--token-secret` (src/client/token-secret.ts), then a TOTP code from whatever key came out.
 * Input: the option text.
 */
import { FormEntryError, parseFormEntry } from '../../src/client/form-entries.js';
import { parseTokenSecret, TokenSecretError } from '../../src/client/token-secret.js';
import { totpCode } from '../../src/client/totp-code.js';
import { allowing, check, type FuzzTarget } from './target.js';

export const clientOptions: FuzzTarget = {
  name: 'client-options',
  description: 'sslgate connect -F AUTHID:NAME=VALUE and --token-secret forms, and a TOTP code from the key',
  maxLen: 2048,
  covers: ['/dist/src/client/form-entries', '/dist/src/client/token-secret', '/dist/src/client/totp-code'],
  dictionary: ['main:', 'challenge:', 'password=', 'secondary_password=', '=', ':', 'base32:', '0x', 'sha256:', 'sha512:', 'sha1:', '====', ' ', '<?xml'],
  seeds: () => ['main:username=alice', 'challenge:password=123456', 'base32:GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', '0x3132', 'sha256:base32:GEZDGNBV', 'GEZDGNBVGY3TQOJQ'].map((s) => Buffer.from(s)),
  run(data) {
    const text = data.toString('utf8');
    const f = allowing([FormEntryError], () => parseFormEntry(text));
    if (f) {
      check(`${f.authId}:${f.name}=${f.value}` === text, 'the form entry does not give back its text');
      check(f.authId !== '' && f.name !== '' && !f.authId.includes(':') && !f.authId.includes('=') && !f.name.includes('='), 'form id or field name split in the wrong place');
    }
    const s = allowing([TokenSecretError], () => parseTokenSecret(text));
    if (s) {
      check(s.key.length > 0, 'empty key accepted');
      check(['sha1', 'sha256', 'sha512'].includes(s.algorithm), `algorithm ${s.algorithm}`);
      check(/^\d{6}$/.test(totpCode(s.key, 1_700_000_000, s.algorithm)), 'a code that is not six digits');
    }
  },
};
