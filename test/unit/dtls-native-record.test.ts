/**
 * src/os/dtls-record-addon.ts (and src/dtls/record-sealer.ts) against the reference record code (record.ts + record-cipher.ts),
 * for every suite and both record backends (the native addon when built, and the TypeScript
 * fallback):
 *   - records sealed here open with the reference code, and the reference code's records open
 *     here, with type, version, epoch and 48-bit sequence number in the header, nonce and AAD;
 *   - AEAD records are byte-identical to the reference (deterministic nonces);
 *   - any modified byte (header, explicit nonce/IV, ciphertext, tag/MAC) is rejected;
 *   - the replay window rejects repeats and records left of the window, and only moves on
 *     authentic records;
 *   - sealFrom (prefix byte + copy), payload sizes 0..2^14, bounds errors;
 *   - UdpBatchSender (udp-batch.ts): sendmmsg batches reach a dgram socket intact and in order.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { seeded } from '../helpers/seed.js';
import { test } from 'node:test';
import { ContentType, DTLS0_9, DTLS1_2, allSuites, type CipherSuite, type DtlsTrafficKeys, type DtlsVersion } from '../../src/dtls/index.js';
import { OPEN_BAD, OPEN_REPLAY, type RecordOpener, type RecordSealer } from '../../src/dtls/record-sealer.js';
import { createRecordOpener, createRecordSealer, nativeDtlsAddon } from '../../src/os/dtls-record-addon.js';
import { UdpBatchSender, ipv4ToInt, udpSocketFd } from '../../src/os/udp-batch.js';
import { createRecordProtection } from '../../src/dtls/record-cipher.js';
import { encodeRecord, newRecordHeader, readRecordHeader } from '../../src/dtls/record.js';
import { prerequisite } from '../helpers/prerequisites.js';

// Keys and payloads from the logged test seed (test/helpers/seed.ts): a failure replays.
const rng = seeded('dtls-native-record');
const randomBytes = (n: number): Buffer => rng.bytes(n);

const native = nativeDtlsAddon() !== null;
const BACKENDS: Array<{ name: string; typescript: boolean; skip: string | false }> = [
  { name: 'native', typescript: false, skip: prerequisite('the native DTLS record tests', !native && 'sslgate_dtls addon not built (npm ci builds it)') },
  { name: 'typescript', typescript: true, skip: false },
];

function versionsOf(s: CipherSuite): DtlsVersion[] {
  return s.dtls09 ? [DTLS0_9, DTLS1_2] : [DTLS1_2];
}

function dirKeys(s: CipherSuite) {
  return { macKey: randomBytes(s.macLength), encKey: randomBytes(s.keyLength), fixedIv: randomBytes(s.fixedIvLength) };
}

function makeKeys(s: CipherSuite, version: DtlsVersion, epoch = 1, nextWriteSeq = 0): DtlsTrafficKeys {
  const k = dirKeys(s);
  // Both directions use the same keys so a sealer's records open with the opener of the same object.
  return { version, suiteId: s.id, epoch, write: k, read: k, nextWriteSeq };
}

function sealRecord(sealer: RecordSealer, payload: Buffer, type: number = ContentType.applicationData): Buffer {
  const buf = Buffer.alloc(sealer.headroom + payload.length + sealer.tailroom + 7, 0xee);
  payload.copy(buf, 3 + sealer.headroom);
  const n = sealer.seal(buf, 3, payload.length, type);
  return Buffer.from(buf.subarray(3, 3 + n));
}

/** Opens with the reference code; returns [header, plaintext | null]. */
function refOpen(s: CipherSuite, keys: DtlsTrafficKeys, rec: Buffer) {
  const h = newRecordHeader();
  assert.equal(readRecordHeader(rec, 0, h), rec.length, 'one whole record');
  const prot = createRecordProtection(s, keys.read);
  return { h, pt: prot.open(h.type, h.version, h.epoch, h.seq, rec.subarray(h.fragmentOffset)) };
}

/** Opens a copy (open works in place); returns the plaintext or the error code. */
function openCopy(opener: RecordOpener, rec: Buffer): Buffer | number {
  const buf = Buffer.concat([Buffer.alloc(5, 0xaa), rec, Buffer.alloc(4, 0xbb)]);
  const n = opener.open(buf, 5, rec.length);
  return n < 0 ? n : Buffer.from(buf.subarray(5 + opener.plaintextOffset, 5 + opener.plaintextOffset + n));
}

const SIZES = [0, 1, 15, 16, 17, 31, 100, 1399, 1400, 16384];

for (const be of BACKENDS) {
  const opts = { typescript: be.typescript };
  for (const suite of allSuites()) {
    for (const version of versionsOf(suite)) {
      const name = `${be.name}: ${suite.name} ${version === DTLS0_9 ? 'DTLS0.9' : 'DTLS1.2'}`;

      test(`${name}: sealed records open with the reference code, sequence/epoch in header, nonce and AAD`, { skip: be.skip }, () => {
        const firstSeq = 2 ** 40 + 0x123456; // exercises all 6 sequence bytes
        const keys = makeKeys(suite, version, 0x0102, firstSeq);
        const sealer = createRecordSealer(keys, opts);
        assert.equal(sealer.headroom, 13 + createRecordProtection(suite, keys.write).explicitNonceLength);
        for (let i = 0; i < SIZES.length; i++) {
          const payload = randomBytes(SIZES[i]!);
          assert.equal(sealer.nextSeq, firstSeq + i);
          const rec = sealRecord(sealer, payload, i === 3 ? ContentType.alert : ContentType.applicationData);
          const { h, pt } = refOpen(suite, keys, rec);
          assert.equal(h.type, i === 3 ? ContentType.alert : ContentType.applicationData);
          assert.equal(h.version, version);
          assert.equal(h.epoch, 0x0102);
          assert.equal(h.seq, firstSeq + i);
          assert.ok(rec.length - 13 <= createRecordProtection(suite, keys.write).fragmentLength(payload.length));
          assert.ok(pt, `reference open failed for ${payload.length} bytes`);
          assert.deepEqual(pt, payload);
          if (suite.kind === 'gcm') assert.deepEqual(rec.subarray(13, 21), rec.subarray(3, 11), 'explicit nonce = seq64');
          if (suite.kind !== 'cbc') {
            // AEAD is deterministic: the same bytes as the reference record writer.
            const ref = encodeRecord(createRecordProtection(suite, keys.write), h.type, version, h.epoch, h.seq, payload);
            assert.deepEqual(rec, ref);
          }
        }
        // A record sealed for another sequence number / epoch does not open as this one.
        const rec = sealRecord(sealer, Buffer.from('x'));
        const prot = createRecordProtection(suite, keys.read);
        assert.equal(prot.open(rec[0]!, version, 0x0102, sealer.nextSeq, rec.subarray(13)), null, 'seq is authenticated');
        assert.equal(prot.open(rec[0]!, version, 0x0103, sealer.nextSeq - 1, rec.subarray(13)), null, 'epoch is authenticated');
      });

      test(`${name}: reference records open here; replay window`, { skip: be.skip }, () => {
        const keys = makeKeys(suite, version, 1);
        const opener = createRecordOpener(keys, opts);
        const prot = createRecordProtection(suite, keys.write);
        const rec = (seq: number, payload: Buffer) => encodeRecord(prot, ContentType.applicationData, version, 1, seq, payload);
        for (const size of SIZES) {
          const payload = randomBytes(size);
          const seq = 1000 + size;
          assert.deepEqual(openCopy(opener, rec(seq, payload)), payload, `${size} bytes`);
        }
        const B = 100_000; // above the sizes' sequence numbers
        const p = Buffer.from('replayed');
        const r1 = rec(B, p);
        assert.deepEqual(openCopy(opener, r1), p);
        assert.equal(openCopy(opener, r1), OPEN_REPLAY, 'same record twice');
        assert.deepEqual(openCopy(opener, rec(B - 10, p)), p, 'inside the window, unseen');
        assert.equal(openCopy(opener, rec(B - 10, p)), OPEN_REPLAY);
        assert.equal(openCopy(opener, rec(B - 64, p)), OPEN_REPLAY, 'left of the window');
        assert.deepEqual(openCopy(opener, rec(B - 63, p)), p, 'last slot of the window');
        // A forged record far ahead must not move the window.
        const forged = rec(B + 4000, p);
        forged[forged.length - 1]! ^= 1;
        assert.equal(openCopy(opener, forged), OPEN_BAD);
        assert.deepEqual(openCopy(opener, rec(B - 9, p)), p, 'window did not move on a forgery');
        assert.deepEqual(openCopy(opener, rec(2 ** 48 - 2, p)), p, 'largest sequence numbers');
        assert.equal(openCopy(opener, rec(B + 1, p)), OPEN_REPLAY, 'now left of the window');
      });

      test(`${name}: any modified byte is rejected`, { skip: be.skip }, () => {
        const keys = makeKeys(suite, version, 1, 77);
        const sealer = createRecordSealer(keys, opts);
        const opener = createRecordOpener(keys, opts);
        const rec = sealRecord(sealer, randomBytes(40));
        assert.ok(Buffer.isBuffer(openCopy(createRecordOpener(keys, opts), rec)));
        for (let i = 0; i < rec.length; i++) {
          if (i === 11 || i === 12) continue; // the length field only frames; checked below
          const bad = Buffer.from(rec);
          bad[i]! ^= i < 13 ? 0x01 : 0x80;
          assert.equal(openCopy(opener, bad), OPEN_BAD, `byte ${i} modified`);
        }
        const short = Buffer.from(rec);
        short.writeUInt16BE(rec.length - 13 - 1, 11);
        assert.equal(openCopy(opener, short.subarray(0, rec.length - 1)), OPEN_BAD, 'truncated record');
        assert.equal(opener.open(Buffer.from(rec), 0, rec.length + 1), OPEN_BAD, 'record length beyond the buffer');
        assert.equal(opener.open(Buffer.from(rec), 0, rec.length - 1), OPEN_BAD, 'length field disagrees');
        assert.equal(openCopy(opener, rec.subarray(0, 12)), OPEN_BAD, 'shorter than a header');
        // The untouched record still opens: none of the forgeries moved the window.
        assert.ok(Buffer.isBuffer(openCopy(opener, rec)));
      });

      test(`${name}: sealFrom copies prefix + packet, also from the same buffer`, { skip: be.skip }, () => {
        const keys = makeKeys(suite, version, 1, 9);
        const sealer = createRecordSealer(keys, opts);
        const opener = createRecordOpener(keys, opts);
        const pkt = randomBytes(1300);
        const src = Buffer.concat([randomBytes(50), pkt, randomBytes(50)]);
        const dst = Buffer.alloc(2000);
        const n = sealer.sealFrom(dst, 10, src, 50, pkt.length, 0x00, ContentType.applicationData);
        assert.deepEqual(openCopy(opener, dst.subarray(10, 10 + n)), Buffer.concat([Buffer.from([0]), pkt]));
        // No prefix, source inside the destination (overlapping the record area).
        const same = Buffer.alloc(2000);
        pkt.copy(same, 0);
        const m = sealer.sealFrom(same, 0, same, 0, pkt.length, -1, ContentType.applicationData);
        assert.deepEqual(openCopy(opener, same.subarray(0, m)), pkt);
        // Control packet with an empty body, from a Uint8Array.
        const k = sealer.sealFrom(dst, 0, new Uint8Array(0), 0, 0, 0x07, ContentType.applicationData);
        assert.deepEqual(openCopy(opener, dst.subarray(0, k)), Buffer.from([0x07]));
      });

      test(`${name}: bounds`, { skip: be.skip }, () => {
        const sealer = createRecordSealer(makeKeys(suite, version), opts);
        const buf = Buffer.alloc(sealer.headroom + 100 + sealer.tailroom);
        assert.throws(() => sealer.seal(buf, 1, 100, 23), RangeError);
        assert.throws(() => sealer.seal(Buffer.alloc(20000), 0, 16385, 23), RangeError);
        assert.throws(() => sealer.sealFrom(buf, 0, Buffer.alloc(10), 5, 6, 0, 23), RangeError);
        assert.equal(sealer.nextSeq, 0, 'failed calls use no sequence number');
        assert.ok(sealer.seal(buf, 0, 100, 23) > 100);
        assert.equal(sealer.nextSeq, 1);
      });
    }
  }
}

test('native: sequence number space ends at 2^48-1', { skip: BACKENDS[0]!.skip }, () => {
  const s = allSuites().find((x) => x.kind === 'gcm')!;
  const sealer = createRecordSealer(makeKeys(s, DTLS1_2, 1, 2 ** 48 - 2));
  const buf = Buffer.alloc(100);
  sealer.seal(buf, 0, 10, 23);
  assert.throws(() => sealer.seal(buf, 0, 10, 23), /exhausted/);
});

test('native: constructor checks its arguments', { skip: BACKENDS[0]!.skip }, () => {
  const a = nativeDtlsAddon()!;
  const k16 = Buffer.alloc(16);
  assert.throws(() => new a.RecordSealer('gcm', 'aes-256-gcm', '', k16, Buffer.alloc(4), Buffer.alloc(0), DTLS1_2, 1, 0), /key length/);
  assert.throws(() => new a.RecordSealer('cbc', 'aes-128-cbc', 'md5', k16, k16, Buffer.alloc(16), DTLS1_2, 1, 0), /MAC/);
  assert.throws(() => new a.RecordSealer('cbc', 'aes-128-gcm', 'sha1', k16, k16, Buffer.alloc(20), DTLS1_2, 1, 0), /CBC/);
  assert.throws(() => new a.RecordOpener('nope', 'aes-128-gcm', '', k16, Buffer.alloc(4), Buffer.alloc(0), DTLS1_2, 1), /kind/);
  assert.throws(() => new a.RecordSealer('gcm', 'aes-128-gcm', '', k16, Buffer.alloc(4), Buffer.alloc(0), DTLS1_2, 1, 2 ** 48), RangeError);
  const op = new a.RecordOpener('gcm', 'aes-128-gcm', '', k16, Buffer.alloc(4), Buffer.alloc(0), DTLS1_2, 1);
  assert.throws(() => (op as unknown as { open(...a: unknown[]): number }).open('x', 0, 1), TypeError);
});

// ---------------------------------------------------------------- batched sends

function bindUdp(): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

test('ipv4ToInt', () => {
  assert.equal(ipv4ToInt('127.0.0.1'), 0x7f000001);
  assert.equal(ipv4ToInt('255.255.255.255'), 0xffffffff);
  assert.equal(ipv4ToInt('256.0.0.1'), -1);
  assert.equal(ipv4ToInt('::1'), -1);
});

for (const gso of [true, false]) {
  test(`UdpBatchSender (GSO ${gso ? 'on' : 'off'}): batches arrive intact and in order, flushed after the current call`, { skip: BACKENDS[0]!.skip }, async () => {
    const rx = await bindUdp();
    const rx2 = await bindUdp();
    const tx = await bindUdp();
    const saved = process.env['SSLGATE_UDP_GSO'];
    try {
      assert.ok(udpSocketFd(tx) >= 0);
      if (!gso) process.env['SSLGATE_UDP_GSO'] = '0';
      const sender = UdpBatchSender.create(tx, { batch: 16, slot: 1600 })!;
      assert.ok(sender);
      assert.equal(sender.gso, gso);
      const sink = sender.sinkFor('127.0.0.1', rx.address().port)!;
      const sink2 = sender.sinkFor('127.0.0.1', rx2.address().port)!;
      // Runs of equal sizes (GSO material), a shorter datagram ending a run, single odd sizes,
      // an empty datagram, and a second peer in between.
      const sizes = [1400, 1400, 1400, 1400, 900, 1400, 1400, 60, 60, 60, 1200, 0, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1399, 1400, 33];
      const want: Buffer[] = [];
      const want2: Buffer[] = [];
      const got: Buffer[] = [];
      const got2: Buffer[] = [];
      rx.on('message', (m) => got.push(m));
      rx2.on('message', (m) => got2.push(m));
      for (let i = 0; i < sizes.length; i++) {
        const d = randomBytes(sizes[i]!);
        const toSecond = i === 2 || i === 20;
        (toSecond ? want2 : want).push(d);
        const k = toSecond ? sink2 : sink;
        const at = k.reserve(d.length);
        assert.ok(at >= 0);
        d.copy(k.slab, at);
        k.commit(d.length);
      }
      assert.equal(sink.reserve(1601), -1, 'too big for a slot');
      assert.equal(sender.counters.batches, 2, 'two full batches went out synchronously');
      await Promise.resolve();
      assert.equal(sender.counters.batches, 3, 'the rest in a microtask');
      assert.equal(sender.counters.datagrams, sizes.length);
      assert.equal(sender.counters.viaDgram, 0);
      await until(() => got.length === want.length && got2.length === want2.length);
      assert.deepEqual(got, want);
      assert.deepEqual(got2, want2);
      assert.equal(sender.gso, gso, 'loopback accepts GSO');
      sender.close();
      assert.equal(sink.reserve(100), -1, 'closed');
    } finally {
      if (saved === undefined) delete process.env['SSLGATE_UDP_GSO'];
      else process.env['SSLGATE_UDP_GSO'] = saved;
      rx.close();
      rx2.close();
      tx.close();
    }
  });
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('UdpBatchSender: nothing is written after its socket was closed (the fd number may be reused)', { skip: BACKENDS[0]!.skip }, async () => {
  const rx = await bindUdp();
  const tx = await bindUdp();
  try {
    const sender = UdpBatchSender.create(tx)!;
    const sink = sender.sinkFor('127.0.0.1', rx.address().port)!;
    let got = 0;
    rx.on('message', () => got++);
    const at = sink.reserve(10);
    sink.commit(10);
    assert.ok(at >= 0);
    tx.close(); // before the microtask flush
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got, 0);
    assert.equal(sender.counters.datagrams, 0);
    assert.equal(sink.reserve(10), -1, 'closed for good');
  } finally {
    rx.close();
  }
});

test('UdpBatchSender: not for IPv6 sockets', { skip: BACKENDS[0]!.skip }, async () => {
  const s = createSocket('udp6');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '::1', () => resolve());
    });
  } catch {
    return; // no IPv6 loopback here
  } finally {
    // closed below
  }
  assert.equal(UdpBatchSender.create(s), null);
  s.close();
});
