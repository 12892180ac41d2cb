/**
 * Record layer: Appendix B's encrypted Finished byte for byte, every suite's
 * protection round trip and tamper resistance, header framing limits, and the
 * 64-entry replay window.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHmac } from 'node:crypto';
import { test } from 'node:test';
import { ContentType, DTLS0_9, DTLS1_2, MAX_CIPHERTEXT_LENGTH, type DtlsVersion } from '../../src/dtls/constants.js';
import { deriveKeyBlock } from '../../src/dtls/keys.js';
import {
  RECORD_OVERSIZED,
  RECORD_TRUNCATED,
  encodeRecord,
  newRecordHeader,
  readRecordHeader,
} from '../../src/dtls/record.js';
import { createRecordProtection } from '../../src/dtls/record-cipher.js';
import { ReplayWindow } from '../../src/dtls/replay.js';
import { allSuites, getSuite, SuiteId } from '../../src/dtls/suites.js';
import { maxPlaintextForDatagram, maxRecordOverhead, dtlsDataMtu } from '../../src/dtls/mtu.js';
import { byteRange, hex, Prng } from './dtls-helpers.js';

const master = byteRange(0x00, 48);
const clientRandom = byteRange(0x40, 32);
const serverRandom = byteRange(0x60, 32);

test('Appendix B: encrypted server Finished record, byte for byte', () => {
  const suite = getSuite(SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA)!;
  const kb = deriveKeyBlock(DTLS0_9, suite, master, clientRandom, serverRandom);
  const iv = byteRange(0xa0, 16);
  const seal = createRecordProtection(suite, kb.server, (b) => void iv.copy(b));
  const plaintext = Buffer.concat([hex('14 00 00 0c 00 02 00 00 00 00 00 0c'), hex('50d35b7bbeaef9360e5e40e9')]);
  // The MAC the appendix gives, computed independently.
  const mac = createHmac('sha1', kb.server.macKey)
    .update(hex('00 01 00 00 00 00 00 00 16 01 00 00 18'))
    .update(plaintext)
    .digest('hex');
  assert.equal(mac, 'c34f12321b96a45ec11109879fd7546a17e773c1');

  const rec = encodeRecord(seal, ContentType.handshake, DTLS0_9, 1, 0, plaintext);
  assert.equal(
    rec.toString('hex'),
    '16010000010000000000000040' +
      'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' +
      '3921825b2752ffb7de4faad362ee9f51f5d6255e802553c5c1c09fc0f9aed2376421bf17c01b0516524c5ff8fd65d55a',
  );
  const open = createRecordProtection(suite, kb.server);
  assert.deepEqual(open.open(ContentType.handshake, DTLS0_9, 1, 0, rec.subarray(13)), plaintext);
  // Same bytes with another sequence number / version must not verify.
  assert.equal(open.open(ContentType.handshake, DTLS0_9, 1, 1, rec.subarray(13)), null);
  assert.equal(open.open(ContentType.handshake, DTLS1_2, 1, 0, rec.subarray(13)), null);
});

function keysFor(suiteId: number, version: DtlsVersion = DTLS1_2) {
  const suite = getSuite(suiteId)!;
  return { suite, kb: deriveKeyBlock(version, suite, master, clientRandom, serverRandom) };
}

for (const suite of allSuites()) {
  const versions: DtlsVersion[] = suite.dtls09 ? [DTLS1_2, DTLS0_9] : [DTLS1_2];
  for (const version of versions) {
    test(`${suite.name} ${version === DTLS0_9 ? 'DTLS0.9' : 'DTLS1.2'}: round trip, sizes and tampering`, () => {
      const { kb } = keysFor(suite.id, version);
      const tx = createRecordProtection(suite, kb.client);
      const rx = createRecordProtection(suite, kb.client);
      const prng = new Prng(suite.id);
      for (const len of [0, 1, 15, 16, 17, 100, 1399, 1400, 16384]) {
        const pt = prng.bytes(len);
        const rec = encodeRecord(tx, ContentType.applicationData, version, 1, 7 + len, pt);
        assert.equal(rec.length, 13 + tx.fragmentLength(len));
        assert.ok(rec.length - len <= maxRecordOverhead(suite), 'overhead within the advertised worst case');
        const frag = rec.subarray(13);
        assert.deepEqual(rx.open(ContentType.applicationData, version, 1, 7 + len, frag), pt);
        // Any single-bit flip anywhere in the fragment must fail (never throw).
        if (len <= 100) {
          for (let i = 0; i < frag.length; i += Math.max(1, Math.floor(frag.length / 13))) {
            const bad = Buffer.from(frag);
            bad[i]! ^= 0x01;
            assert.equal(rx.open(ContentType.applicationData, version, 1, 7 + len, bad), null, `flip @${i}`);
          }
          assert.equal(rx.open(ContentType.handshake, version, 1, 7 + len, frag), null, 'type is authenticated');
          assert.equal(rx.open(ContentType.applicationData, version, 2, 7 + len, frag), null, 'epoch is authenticated');
          assert.equal(rx.open(ContentType.applicationData, version, 1, 8 + len, frag), null, 'seq is authenticated');
          for (let cut = 0; cut < frag.length; cut += 5) {
            assert.equal(rx.open(ContentType.applicationData, version, 1, 7 + len, frag.subarray(0, cut)), null);
          }
        }
      }
      // Keys of the other direction must not open it.
      const other = createRecordProtection(suite, kb.server);
      const rec = encodeRecord(tx, ContentType.applicationData, version, 1, 1, Buffer.from('hello'));
      assert.equal(other.open(ContentType.applicationData, version, 1, 1, rec.subarray(13)), null);
    });
  }
}

test('AES-GCM record: explicit nonce = epoch‖seq, AAD = seq64‖type‖version‖len (independent check)', () => {
  const { suite, kb } = keysFor(SuiteId.TLS_PSK_WITH_AES_128_GCM_SHA256);
  const tx = createRecordProtection(suite, kb.server);
  const pt = Buffer.from('0045000054', 'hex');
  const rec = encodeRecord(tx, ContentType.applicationData, DTLS1_2, 1, 0x0102030405, pt);
  assert.deepEqual(rec.subarray(0, 13), hex('17 fefd 0001 000102030405 001d'));
  assert.deepEqual(rec.subarray(13, 21), hex('0001 000102030405'));
  const c = createCipheriv('aes-128-gcm', kb.server.encKey, Buffer.concat([kb.server.fixedIv, hex('0001000102030405')]));
  c.setAAD(hex('0001000102030405 17 fefd 0005'));
  const expected = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
  assert.deepEqual(rec.subarray(21), expected);
});

test('ChaCha20-Poly1305 record: nonce = iv XOR seq64, no explicit nonce (RFC 7905, independent check)', () => {
  const { suite, kb } = keysFor(SuiteId.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256);
  const tx = createRecordProtection(suite, kb.client);
  const pt = Buffer.from('payload');
  const seq = 0x0000ab12cd34;
  const rec = encodeRecord(tx, ContentType.applicationData, DTLS1_2, 1, seq, pt);
  const nonce = Buffer.from(kb.client.fixedIv);
  const seq64 = hex('0001 0000ab12cd34');
  for (let i = 0; i < 8; i++) nonce[4 + i]! ^= seq64[i]!;
  const c = createCipheriv('chacha20-poly1305', kb.client.encKey, nonce, { authTagLength: 16 });
  c.setAAD(Buffer.concat([seq64, hex('17 fefd 0007')]), { plaintextLength: pt.length });
  assert.deepEqual(rec.subarray(13), Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]));
});

test('CBC: bad padding and bad MAC are reported identically (null), no throw', () => {
  const { suite, kb } = keysFor(SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA, DTLS0_9);
  const rx = createRecordProtection(suite, kb.client);
  // Forge "ciphertexts" whose decryption has valid-looking and invalid padding.
  const prng = new Prng(99);
  for (let i = 0; i < 200; i++) {
    const n = 16 * (1 + prng.int(6));
    assert.equal(rx.open(ContentType.applicationData, DTLS0_9, 1, i, prng.bytes(n)), null);
  }
  // Length not a multiple of the block size, and too short.
  assert.equal(rx.open(ContentType.applicationData, DTLS0_9, 1, 0, Buffer.alloc(47)), null);
  assert.equal(rx.open(ContentType.applicationData, DTLS0_9, 1, 0, Buffer.alloc(16)), null);
  assert.equal(rx.open(ContentType.applicationData, DTLS0_9, 1, 0, Buffer.alloc(0)), null);
});

test('record header framing: truncated and oversized', () => {
  const h = newRecordHeader();
  assert.equal(readRecordHeader(Buffer.alloc(12), 0, h), RECORD_TRUNCATED);
  const hdr = hex('17 fefd 0001 000000000001 0010');
  assert.equal(readRecordHeader(Buffer.concat([hdr, Buffer.alloc(15)]), 0, h), RECORD_TRUNCATED);
  assert.equal(readRecordHeader(Buffer.concat([hdr, Buffer.alloc(16)]), 0, h), 29);
  assert.equal(h.epoch, 1);
  assert.equal(h.seq, 1);
  const big = Buffer.alloc(13 + MAX_CIPHERTEXT_LENGTH + 1);
  hex('17 fefd 0001 000000000001').copy(big);
  big.writeUInt16BE(MAX_CIPHERTEXT_LENGTH + 1, 11);
  assert.equal(readRecordHeader(big, 0, h), RECORD_OVERSIZED);
});

test('replay window: 64 entries, out-of-order accepted once (sequence from OpenSSL bad_dtls_test)', () => {
  // [seq, expected drop] — the DROP/NODROP list used by OpenSSL's Cisco DTLS test.
  const cases: [number, boolean][] = [
    [1, false], [3, false], [2, false],
    [0x1234, false], [0x1230, false], [0x1235, false],
    [0xffff, false], [0x10001, false], [0xfffe, false], [0x10000, false],
    [0x10001, true], [0xff, true], [0x100000, false], [0x800000, false], [0x7fffe1, false],
    [0xffffff, false], [0x1000000, false], [0xfffffe, false], [0xffffff, true], [0x1000010, false],
    [0xfffffd, false], [0x1000011, false], [0x12, true], [0x1000012, false],
    [0x1ffffff, false], [0x2000000, false], [0x1ff00fe, true], [0x2000001, false],
    [0x20fffff, false], [0x2105500, false], [0x20ffffe, true], [0x21054ff, false],
    [0x211ffff, false], [0x2110000, true], [0x2120000, false],
  ];
  const w = new ReplayWindow();
  for (const [seq, drop] of cases) {
    const ok = w.check(seq) === 'ok';
    assert.equal(!ok, drop, `seq 0x${seq.toString(16)}`);
    if (ok) w.mark(seq);
  }
});

test('replay window: exact edges', () => {
  const w = new ReplayWindow();
  w.mark(100);
  assert.equal(w.check(100), 'replay');
  assert.equal(w.check(37), 'ok'); // 100 - 63: inside
  assert.equal(w.check(36), 'old'); // 100 - 64: outside
  w.mark(37);
  assert.equal(w.check(37), 'replay');
  w.mark(101);
  assert.equal(w.check(37), 'old');
  w.mark(2 ** 48 - 1);
  assert.equal(w.check(2 ** 48 - 1), 'replay');
  assert.equal(w.check(2 ** 48 - 2), 'ok');
});

test('MTU arithmetic matches ocserv/GnuTLS numbers (transcripts)', () => {
  // "DTLS overhead is 66" (PSK AES-256-GCM) / 94 (AES128-SHA), including IPv4+UDP and the type byte.
  assert.equal(20 + 8 + maxRecordOverhead(SuiteId.TLS_PSK_WITH_AES_256_GCM_SHA384) + 1, 66);
  assert.equal(20 + 8 + maxRecordOverhead(SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA) + 1, 94);
  // "DTLS handshake completed (link MTU: 1500, data MTU: 1434 / 1418)".
  assert.equal(dtlsDataMtu(SuiteId.TLS_PSK_WITH_AES_256_GCM_SHA384, 1500), 1434);
  assert.equal(dtlsDataMtu(SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA, 1500), 1418);
  // The plaintext limit really fits.
  const suite = getSuite(SuiteId.TLS_RSA_WITH_AES_256_CBC_SHA)!;
  const kb = deriveKeyBlock(DTLS0_9, suite, master, clientRandom, serverRandom);
  const tx = createRecordProtection(suite, kb.client);
  for (const budget of [500, 1000, 1472]) {
    const n = maxPlaintextForDatagram(suite, budget);
    assert.ok(13 + tx.fragmentLength(n) <= budget);
    assert.ok(13 + tx.fragmentLength(n + 16) > budget);
  }
});
