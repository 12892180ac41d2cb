/**
 * The record opener (native/dtls_record.c through its binding, and the TypeScript fallback)
 * never reads or writes outside the bytes it is given, for every cipher mode it supports.
 *
 * The buffers are exact-length and unpadded: each one is the LAST bytes of a one-page
 * WebAssembly.Memory. V8 reserves wasm memory with inaccessible guard pages after it (the
 * bounds-check trap handler on x64 Linux), so a read or write one byte past such a Buffer
 * kills this process with SIGSEGV instead of silently reading a neighbour's bytes: the test
 * fails loudly. (Checked by hand against the opener before the fix, which read the 13-byte
 * header before checking the length: this file crashed at length 0.)
 *
 * Lengths: 0..40 and every boundary +-2 of each mode (header, header + explicit nonce + tag,
 * header + IV + one block of MAC and padding), with header fields set so the opener gets as far
 * as it can (right type, version, epoch, a length field that matches or lies), and random
 * fragment bytes from a logged seed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ContentType, DTLS0_9, DTLS1_2, allSuites, type CipherSuite, type DtlsTrafficKeys, type DtlsVersion } from '../../src/dtls/index.js';
import { OPEN_BAD, type RecordOpener } from '../../src/dtls/record-sealer.js';
import { createRecordOpener, createRecordSealer, nativeDtlsAddon } from '../../src/os/dtls-record-addon.js';
import { seeded } from '../helpers/seed.js';

const PAGE = 65536;
const HDR = 13;
const native = nativeDtlsAddon() !== null;
// Under CI the addon must be there: a missing addon must not turn the native half into a skip.
const nativeSkip = native ? false : process.env['CI'] === 'true' ? false : 'sslgate_dtls addon not built';

/** Repeatable bytes from the test process's logged seed (test/helpers/seed.ts), one stream per label. */
function rng(label: string): (n: number) => Buffer {
  const r = seeded(`dtls-native-short ${label}`);
  return (n) => r.bytes(n);
}

// The project compiles with lib ES2022 only, which has no WebAssembly types: the one we use.
declare const WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } };
const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });

/** An exact-length Buffer whose last byte is the last accessible byte of the wasm page. */
function tailBuffer(len: number): Buffer {
  assert.ok(len <= PAGE);
  return Buffer.from(memory.buffer, PAGE - len, len);
}

/** One representative suite per (kind, cipher, MAC) the record code runs, with a version it allows. */
function modes(): Array<{ suite: CipherSuite; version: DtlsVersion }> {
  const seen = new Set<string>();
  const out: Array<{ suite: CipherSuite; version: DtlsVersion }> = [];
  for (const s of allSuites()) {
    const k = `${s.kind}/${s.cipher}/${s.macHash ?? ''}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ suite: s, version: s.dtls09 ? DTLS0_9 : DTLS1_2 });
  }
  return out;
}

function keysFor(s: CipherSuite, version: DtlsVersion): DtlsTrafficKeys {
  const k = { macKey: randomBytes(s.macLength), encKey: randomBytes(s.keyLength), fixedIv: randomBytes(s.fixedIvLength) };
  return { version, suiteId: s.id, epoch: 1, write: k, read: k, nextWriteSeq: 0 };
}

/** The record lengths worth trying for a suite: 0..40 plus each boundary of its format, +-2. */
function lengths(s: CipherSuite, opener: RecordOpener): number[] {
  const set = new Set<number>();
  for (let i = 0; i <= 40; i++) set.add(i);
  const explicit = opener.plaintextOffset - HDR;
  const bounds = [HDR, HDR + explicit];
  if (s.kind === 'cbc') {
    const block = explicit;
    const minCt = Math.ceil((s.macLength + 1) / block) * block;
    bounds.push(HDR + block + minCt, HDR + block + minCt + block, HDR + block + 256 + minCt);
  } else {
    bounds.push(HDR + explicit + 16, HDR + explicit + 17);
  }
  for (const b of bounds) for (let d = -2; d <= 2; d++) if (b + d >= 0) set.add(b + d);
  return [...set].sort((a, b) => a - b);
}

/** Record bytes of length `len`: a header whose length field says `claimed`, then random bytes. */
function shortRecord(len: number, version: number, claimed: number, rand: (n: number) => Buffer): Buffer {
  const b = rand(len);
  const h = Buffer.alloc(HDR);
  h[0] = ContentType.applicationData;
  h.writeUInt16BE(version, 1);
  h.writeUInt16BE(1, 3); // epoch 1, as the opener's
  h.writeUIntBE(7, 5, 6);
  h.writeUInt16BE(claimed & 0xffff, 11);
  h.copy(b, 0, 0, Math.min(HDR, len));
  return b;
}

for (const backend of [
  { name: 'native', typescript: false, skip: nativeSkip },
  { name: 'typescript', typescript: true, skip: false as const },
]) {
  for (const { suite, version } of modes()) {
    test(`${backend.name} ${suite.name}: open() on exact-length short buffers stays inside them`, { skip: backend.skip }, () => {
      if (!backend.typescript) assert.ok(native, 'the sslgate_dtls addon is not built (npm ci builds it)');
      const keys = keysFor(suite, version);
      const opener = createRecordOpener(keys, { typescript: backend.typescript });
      const rand = rng(`${backend.name} ${suite.name} short`);
      let calls = 0;
      for (const len of lengths(suite, opener)) {
        // The length field: honest (len - 13), too big, and 0xffff; each on its own fresh copy.
        for (const claimed of [Math.max(0, len - HDR), len - HDR + 1, 0xffff]) {
          const buf = tailBuffer(len);
          shortRecord(len, version, claimed, rand).copy(buf);
          const r = opener.open(buf, 0, len);
          assert.equal(r, OPEN_BAD, `len ${len}, length field ${claimed}: random bytes must not open`);
          calls++;
          // The same bytes at the end of a bigger buffer, from an offset: still only [off, off+len).
          if (len > 0) {
            const big = tailBuffer(len + 5);
            buf.copy(big, 5);
            assert.equal(opener.open(big, 5, len), OPEN_BAD);
            // A length that runs past the buffer is refused without reading it.
            assert.equal(opener.open(big, 5, len + 1), OPEN_BAD);
            calls++;
          }
        }
      }
      assert.ok(calls > 100, `only ${calls} calls`);
    });

    test(`${backend.name} ${suite.name}: a real record opens from an exact-length buffer; every shorter length is refused`, { skip: backend.skip }, () => {
      const keys = keysFor(suite, version);
      const sealer = createRecordSealer(keys, { typescript: backend.typescript });
      const opener = createRecordOpener(keys, { typescript: backend.typescript });
      const payload = rng(`${backend.name} ${suite.name} payload`)(33);
      // Sealing into a buffer with exactly the worst-case room: nothing is written past it.
      const room = tailBuffer(sealer.headroom + payload.length + sealer.tailroom);
      room.fill(0);
      payload.copy(room, sealer.headroom);
      const n = sealer.seal(room, 0, payload.length, ContentType.applicationData);
      const record = Buffer.from(room.subarray(0, n));
      assert.throws(() => sealer.seal(tailBuffer(sealer.headroom + payload.length + sealer.tailroom - 1), 0, payload.length, ContentType.applicationData), RangeError);
      for (let len = 0; len < n; len++) {
        const b = tailBuffer(len);
        record.copy(b, 0, 0, len);
        assert.equal(opener.open(b, 0, len), OPEN_BAD, `truncated to ${len} of ${n}`);
      }
      const exact = tailBuffer(n);
      record.copy(exact);
      const r = opener.open(exact, 0, n);
      assert.equal(r, payload.length);
      assert.deepEqual(Buffer.from(exact.subarray(opener.plaintextOffset, opener.plaintextOffset + r)), payload);
    });
  }
}

test('native binding: offsets and lengths must be whole numbers in range (no wrap-around)', { skip: nativeSkip }, () => {
  const { suite, version } = modes().find((m) => m.suite.kind === 'gcm')!;
  const opener = createRecordOpener(keysFor(suite, version));
  const sealer = createRecordSealer(keysFor(suite, version));
  const buf = tailBuffer(64);
  // 2^32 + 5 would be 5 after a uint32 conversion, and -1 would be 4294967295.
  for (const bad of [2 ** 32 + 5, -1, 1.5, Number.NaN]) {
    assert.throws(() => opener.open(buf, bad, 20), TypeError);
    assert.throws(() => opener.open(buf, 0, bad), TypeError);
    assert.throws(() => sealer.seal(buf, bad, 1, ContentType.applicationData), TypeError);
    assert.throws(() => sealer.sealFrom(buf, 0, buf, bad, 1, 0, ContentType.applicationData), TypeError);
  }
  assert.throws(() => sealer.sealFrom(buf, 0, buf, 0, 1, 256, ContentType.applicationData), TypeError);
  assert.throws(() => sealer.sealFrom(buf, 0, buf, 0, 1, -2, ContentType.applicationData), TypeError);
});
