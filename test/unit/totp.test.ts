/**
 * auth/totp.ts and auth/base32.ts: the published vectors (RFC 4226 Appendix D, RFC 6238
 * Appendix B, RFC 4648 §10), Debian's oathtool computing the same codes for secrets and times
 * from the logged seed, the verification window at its edges with explicit times, replay, the
 * otpauth:// URI, and garbage for the base32 decoder and the code reader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Base32Error, base32Decode, base32Encode, MAX_BASE32_CHARS } from '../../src/protocol/base32.js';
import {
  formatTotpSecret,
  hotp,
  normalizeCode,
  otpauthUri,
  parseTotpSecret,
  timeStep,
  totp,
  TotpError,
  verifyTotp,
  type TotpAlgorithm,
} from '../../src/protocol/totp.js';
import { hasCommand } from '../helpers/netns.js';
import { prerequisite } from '../helpers/prerequisites.js';
import { seeded } from '../helpers/seed.js';

const RFC_SEED_SHA1 = Buffer.from('12345678901234567890');
const RFC_SEED_SHA256 = Buffer.from('12345678901234567890123456789012');
const RFC_SEED_SHA512 = Buffer.from('1234567890123456789012345678901234567890123456789012345678901234');

test('HOTP: RFC 4226 Appendix D vectors', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
  expected.forEach((code, counter) => assert.equal(hotp(RFC_SEED_SHA1, counter), code, `counter ${counter}`));
});

test('TOTP: RFC 6238 Appendix B vectors (SHA1, SHA256, SHA512; 8 digits)', () => {
  const table: Array<[number, string, string, string]> = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ];
  for (const [t, sha1, sha256, sha512] of table) {
    assert.equal(totp(RFC_SEED_SHA1, t, { algorithm: 'SHA1', digits: 8, period: 30 }), sha1, `SHA1 at ${t}`);
    assert.equal(totp(RFC_SEED_SHA256, t, { algorithm: 'SHA256', digits: 8, period: 30 }), sha256, `SHA256 at ${t}`);
    assert.equal(totp(RFC_SEED_SHA512, t, { algorithm: 'SHA512', digits: 8, period: 30 }), sha512, `SHA512 at ${t}`);
  }
  // The default is 6 digits of the same number.
  assert.equal(totp(RFC_SEED_SHA1, 59), '287082');
  assert.equal(timeStep(20000000000), 666666666);
});

test('TOTP: bad parameters are refused with a clear error', () => {
  assert.throws(() => hotp(RFC_SEED_SHA1, -1), TotpError);
  assert.throws(() => hotp(RFC_SEED_SHA1, 1.5), TotpError);
  assert.throws(() => hotp(RFC_SEED_SHA1, 0, 5), /digits must be 6, 7 or 8/);
  assert.throws(() => hotp(RFC_SEED_SHA1, 0, 9), /digits/);
  assert.throws(() => hotp(RFC_SEED_SHA1, 0, 6, 'MD5' as TotpAlgorithm), /unknown TOTP algorithm/);
  assert.throws(() => totp(RFC_SEED_SHA1, 59, { algorithm: 'SHA1', digits: 6, period: 0 }), /period/);
  assert.throws(() => timeStep(-1), TotpError);
  assert.throws(() => timeStep(Number.NaN), TotpError);
  assert.throws(() => verifyTotp(RFC_SEED_SHA1, '287082', 59, { window: 11 }), /window/);
});

test('base32: RFC 4648 §10 vectors, both ways', () => {
  const vectors: Array<[string, string]> = [
    ['', ''],
    ['f', 'MY======'],
    ['fo', 'MZXQ===='],
    ['foo', 'MZXW6==='],
    ['foob', 'MZXW6YQ='],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI======'],
  ];
  for (const [plain, encoded] of vectors) {
    assert.equal(base32Encode(Buffer.from(plain)), encoded);
    assert.equal(base32Encode(Buffer.from(plain), false), encoded.replace(/=+$/, ''));
    assert.equal(base32Decode(encoded).toString(), plain);
    assert.equal(base32Decode(encoded.replace(/=+$/, '')).toString(), plain, 'padding is optional');
  }
});

test('base32: what people paste (lower case, spaces, tabs) decodes; seeded bytes round-trip', () => {
  assert.deepEqual(base32Decode('jbsw y3dp ehpk 3pxp'), base32Decode('JBSWY3DPEHPK3PXP'));
  assert.deepEqual(base32Decode(' mzxw6ytboi======\t'), Buffer.from('foobar'));
  assert.deepEqual(base32Decode('mzXW6 YTBOi'), Buffer.from('foobar'));
  const rng = seeded('base32 round trip');
  for (let i = 0; i < 500; i++) {
    const bytes = rng.bytes(rng.int(70));
    assert.deepEqual(base32Decode(base32Encode(bytes)), bytes);
    assert.deepEqual(base32Decode(base32Encode(bytes, false).toLowerCase()), bytes);
  }
});

test('base32: garbage is a Base32Error with the reason, never another exception', () => {
  const cases: Array<[string, RegExp]> = [
    ['MZXW1YTB', /"1" at 5 is not base32/],
    ['MZXW8YTB', /"8" at 5 is not base32/],
    ['MZ=W6YTB', /"=" inside base32 text/],
    ['M', /not a whole number of bytes/],
    ['MZX', /not a whole number of bytes/],
    ['MZXW6Y', /not a whole number of bytes/],
    ['MZ=======', /too much "=" padding|does not end/],
    ['MZ===', /does not end an 8-character group/],
    ['MZ', /bits beyond the last byte/], // "MY" is "f"; "MZ" has a stray bit
    ['MZXW6YTBOJ======', /bits beyond the last byte/],
    ['JBSW-Y3DP', /"-" at 5/],
    ['JBSWY3DPé', /"É" at 9|"é" at 9/],
    ['A'.repeat(MAX_BASE32_CHARS + 1), /longer than 1024/],
  ];
  for (const [text, why] of cases) assert.throws(() => base32Decode(text), (e: Error) => e instanceof Base32Error && why.test(e.message), text.slice(0, 40));
  const rng = seeded('base32 garbage');
  const pieces = ['A', 'z', '2', '7', '0', '1', '8', '9', '=', ' ', '\t', '\n', '-', 'é', '\u0000', '€', 'MZXW6'];
  for (let round = 0; round < 2000; round++) {
    let text = '';
    const n = rng.int(40);
    for (let i = 0; i < n; i++) text += pieces[rng.int(pieces.length)];
    try {
      const bytes = base32Decode(text);
      // Whatever decodes encodes back to the same letters.
      assert.equal(base32Encode(bytes, false), text.replace(/[ \t]/g, '').toUpperCase().replace(/=+$/, ''), JSON.stringify(text));
    } catch (e) {
      assert.ok(e instanceof Base32Error, `round ${round} ${JSON.stringify(text)}: ${(e as Error).message}`);
    }
  }
});

test('TOTP secrets: length bounds and the canonical form', () => {
  assert.equal(formatTotpSecret(parseTotpSecret('jbsw y3dp ehpk 3pxp')), 'JBSWY3DPEHPK3PXP');
  assert.throws(() => parseTotpSecret('MZXW6YTBOI'), /6 bytes, fewer than 10/);
  assert.throws(() => parseTotpSecret(base32Encode(Buffer.alloc(65))), /65 bytes, more than 64/);
  assert.throws(() => parseTotpSecret('not base32!'), (e: Error) => e instanceof TotpError && /TOTP secret: .*not base32/.test(e.message));
  assert.throws(() => parseTotpSecret('A'.repeat(300)), /longer than 256/);
  assert.equal(parseTotpSecret(base32Encode(Buffer.alloc(64, 1))).length, 64);
});

test('codes as typed: spaces dropped, anything else refused', () => {
  assert.equal(normalizeCode('123 456'), '123456');
  assert.equal(normalizeCode(' 123456\n'), '123456');
  for (const bad of ['', '12345', '1234567', '12345a', '１２３４５６', '+12345', '-12345', '12.456', '1'.repeat(65), '0x1234']) assert.equal(normalizeCode(bad), null, bad);
  assert.equal(normalizeCode('12345678', 8), '12345678');
  assert.equal(verifyTotp(RFC_SEED_SHA1, 'abcdef', 59).ok, false);
  assert.deepEqual(verifyTotp(RFC_SEED_SHA1, 'abcdef', 59), { ok: false, reason: 'malformed' });
});

test('verification window: the step before, now and after are accepted; two steps away are not (explicit times)', () => {
  const key = RFC_SEED_SHA1;
  const at = 1_700_000_000; // step 56666666, 20 s into it
  const step = timeStep(at);
  assert.equal(step, 56666666);
  const code = (c: number): string => hotp(key, c);
  assert.deepEqual(verifyTotp(key, code(step), at), { ok: true, counter: step });
  assert.deepEqual(verifyTotp(key, code(step - 1), at), { ok: true, counter: step - 1 });
  assert.deepEqual(verifyTotp(key, code(step + 1), at), { ok: true, counter: step + 1 });
  assert.deepEqual(verifyTotp(key, code(step - 2), at), { ok: false, reason: 'wrong' });
  assert.deepEqual(verifyTotp(key, code(step + 2), at), { ok: false, reason: 'wrong' });
  // The edges of a step: its first and last second belong to it.
  const first = step * 30;
  const last = step * 30 + 29.999;
  assert.deepEqual(verifyTotp(key, code(step - 1), first), { ok: true, counter: step - 1 });
  assert.deepEqual(verifyTotp(key, code(step - 1), last), { ok: true, counter: step - 1 });
  assert.deepEqual(verifyTotp(key, code(step - 1), last + 0.001), { ok: false, reason: 'wrong' }, 'one millisecond later the step before is two steps away');
  assert.deepEqual(verifyTotp(key, code(step + 1), first - 0.001), { ok: false, reason: 'wrong' });
  // window 0: only now.
  assert.deepEqual(verifyTotp(key, code(step - 1), at, { window: 0 }), { ok: false, reason: 'wrong' });
  assert.deepEqual(verifyTotp(key, code(step + 2), at, { window: 2 }), { ok: true, counter: step + 2 });
  // At the epoch there is no step -1.
  assert.deepEqual(verifyTotp(key, hotp(key, 0), 1), { ok: true, counter: 0 });
  // Another key's code is wrong.
  assert.deepEqual(verifyTotp(RFC_SEED_SHA256, code(step), at), { ok: false, reason: 'wrong' });
});

test('replay: a step at or below lastCounter is refused as a replay, a later one is accepted', () => {
  const key = RFC_SEED_SHA1;
  const at = 1_700_000_000;
  const step = timeStep(at);
  const first = verifyTotp(key, hotp(key, step), at);
  assert.deepEqual(first, { ok: true, counter: step });
  assert.deepEqual(verifyTotp(key, hotp(key, step), at, { lastCounter: step }), { ok: false, reason: 'replay' });
  assert.deepEqual(verifyTotp(key, hotp(key, step), at + 25, { lastCounter: step }), { ok: false, reason: 'replay' }, 'still refused later in its window');
  assert.deepEqual(verifyTotp(key, hotp(key, step - 1), at, { lastCounter: step }), { ok: false, reason: 'replay' }, 'an older code too');
  assert.deepEqual(verifyTotp(key, hotp(key, step + 1), at, { lastCounter: step }), { ok: true, counter: step + 1 });
  assert.deepEqual(verifyTotp(key, hotp(key, step + 1), at, { lastCounter: step + 1 }), { ok: false, reason: 'replay' });
  assert.deepEqual(verifyTotp(key, '000000' === hotp(key, step) ? '111111' : '000000', at, { lastCounter: step }).ok, false);
});

test('otpauth URI: the Key Uri Format with issuer, algorithm, digits and period; bad labels refused', () => {
  assert.equal(
    otpauthUri({ issuer: 'sslgate', account: 'alice', secret: 'jbsw y3dp ehpk 3pxp' }),
    'otpauth://totp/sslgate:alice?secret=JBSWY3DPEHPK3PXP&issuer=sslgate&algorithm=SHA1&digits=6&period=30',
  );
  assert.equal(
    otpauthUri({ issuer: 'VPN Example & Co', account: 'bob@example.org', secret: 'JBSWY3DPEHPK3PXP', params: { algorithm: 'SHA256', digits: 8, period: 60 } }),
    'otpauth://totp/VPN%20Example%20%26%20Co:bob%40example.org?secret=JBSWY3DPEHPK3PXP&issuer=VPN%20Example%20%26%20Co&algorithm=SHA256&digits=8&period=60',
  );
  const parsed = new URL(otpauthUri({ issuer: 'a?b#c', account: 'x/y', secret: 'JBSWY3DPEHPK3PXP' }));
  assert.equal(parsed.searchParams.get('issuer'), 'a?b#c', 'special characters survive a URL parser');
  assert.equal(parsed.searchParams.get('secret'), 'JBSWY3DPEHPK3PXP');
  assert.throws(() => otpauthUri({ issuer: 'a:b', account: 'alice', secret: 'JBSWY3DPEHPK3PXP' }), /issuer must not contain ':'/);
  assert.throws(() => otpauthUri({ issuer: 'sslgate', account: 'al:ice', secret: 'JBSWY3DPEHPK3PXP' }), /account must not contain ':'/);
  assert.throws(() => otpauthUri({ issuer: '', account: 'alice', secret: 'JBSWY3DPEHPK3PXP' }), /issuer must be 1-128/);
  assert.throws(() => otpauthUri({ issuer: 'x\ny', account: 'alice', secret: 'JBSWY3DPEHPK3PXP' }), /control characters/);
  assert.throws(() => otpauthUri({ issuer: 'sslgate', account: 'alice', secret: 'short' }), TotpError);
});

const oathReason = prerequisite('TOTP codes compared with oathtool', hasCommand('oathtool') ? false : 'missing program: oathtool (Debian package oathtool)');
test('Debian oathtool computes the same codes (seeded secrets and times, SHA1/SHA256/SHA512, 6 and 8 digits)', { skip: oathReason }, () => {
  const rng = seeded('totp oathtool');
  const algorithms: TotpAlgorithm[] = ['SHA1', 'SHA256', 'SHA512'];
  for (let i = 0; i < 12; i++) {
    const key = rng.bytes(10 + rng.int(55));
    const at = rng.int(4_000_000_000);
    const algorithm = algorithms[i % 3]!;
    const digits = i % 4 === 3 ? 8 : 6;
    const secret = base32Encode(key, false);
    // -w 1: the codes of this step and the next (oathtool's window goes forward only).
    const out = execFileSync('oathtool', [`--totp=${algorithm}`, '-b', '-d', String(digits), '-w', '1', '--now', `@${at}`, secret]).toString().trim().split('\n');
    const ours = [totp(key, at, { algorithm, digits, period: 30 }), totp(key, at + 30, { algorithm, digits, period: 30 })];
    assert.deepEqual(out, ours, `${algorithm} ${digits} digits at ${at}, secret ${secret}`);
    // And oathtool's code passes our verification.
    assert.deepEqual(verifyTotp(key, out[0]!, at, { params: { algorithm, digits, period: 30 } }), { ok: true, counter: timeStep(at) });
  }
  // oathtool reads the RFC 6238 seed in base32 and agrees with the published vector.
  assert.equal(execFileSync('oathtool', ['--totp', '-b', '-d', '8', '--now', '@59', base32Encode(RFC_SEED_SHA1, false)]).toString().trim(), '94287082');
});
