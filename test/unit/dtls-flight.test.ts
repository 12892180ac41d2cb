/**
 * Byte-exact handshake flights for DTLS 0.9 (PROTOCOL.md §6.4 and Appendix B),
 * driven through the real DtlsServer/DtlsClient with injected randomness, and
 * the HelloVerifyRequest numbering of OpenSSL's bad_dtls_test.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ContentType,
  DTLS0_9,
  DtlsClient,
  DtlsServer,
  SuiteId,
  createResult,
} from '../../src/dtls/index.js';
import { deriveKeyBlock } from '../../src/dtls/keys.js';
import { createRecordProtection } from '../../src/dtls/record-cipher.js';
import { newRecordHeader, readRecordHeader } from '../../src/dtls/record.js';
import { getSuite } from '../../src/dtls/suites.js';
import { byteRange, hex, scriptedRandom } from './dtls-helpers.js';

const master = byteRange(0x00, 48);
const clientRandom = byteRange(0x40, 32);
const serverRandom = byteRange(0x60, 32);
const sessionId = byteRange(0x80, 32);
const suiteId = SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA;

const chBody = Buffer.concat([hex('01 00'), clientRandom, hex('20'), sessionId, hex('00 00 02 00 2f 01 00')]);

/** Split a datagram into its records. */
function records(d: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const h = newRecordHeader();
  let off = 0;
  while (off < d.length) {
    const next = readRecordHeader(d, off, h);
    assert.ok(next > 0, 'well-formed record');
    out.push(d.subarray(off, next));
    off = next;
  }
  return out;
}

function newClient(): DtlsClient {
  return new DtlsClient({
    role: 'client',
    mode: 'resume',
    version: DTLS0_9,
    suite: suiteId,
    sessionId,
    masterSecret: master,
    randomBytes: scriptedRandom(clientRandom),
  });
}

function newServer(helloVerify?: { secret: Buffer }): DtlsServer {
  return new DtlsServer({
    role: 'server',
    mode: 'resume',
    version: DTLS0_9,
    suite: suiteId,
    sessionId,
    masterSecret: master,
    randomBytes: scriptedRandom(serverRandom, byteRange(0xa0, 16)),
    ...(helloVerify ? { helloVerify } : {}),
  });
}

test('DTLS 0.9 without HelloVerifyRequest: Appendix B flight byte for byte', () => {
  const client = newClient();
  const server = newServer();

  // C→S ClientHello: record seq 0, message_seq 0, the 74-byte Appendix B body, no extensions.
  const c1 = client.start(0);
  assert.equal(c1.send.length, 1);
  assert.equal(c1.timerAt, 1000);
  assert.deepEqual(c1.send[0], Buffer.concat([hex('16 0100 0000 000000000000 0056 01 00004a 0000 000000 00004a'), chBody]));

  // S→C ServerHello, CCS (01 00 01), encrypted Finished (message_seq 2): §6.4 and Appendix B.
  const s1 = server.handleDatagram(c1.send[0]!, 10);
  assert.deepEqual(s1.drops, []);
  assert.equal(s1.send.length, 1);
  const [sh, ccs, fin] = records(s1.send[0]!);
  assert.deepEqual(
    sh,
    Buffer.concat([
      hex('16 01 00 00 00 00 00 00 00 00 00 00 52 | 02 00 00 46 00 00 00 00 00 00 00 46'),
      hex('01 00'),
      serverRandom,
      hex('20'),
      sessionId,
      hex('00 2f 00'),
    ]),
  );
  assert.deepEqual(ccs, hex('14 01 00 00 00 00 00 00 00 00 01 00 03 01 00 01'));
  assert.deepEqual(
    fin,
    hex(
      '16 01 00 00 01 00 00 00 00 00 00 00 40' +
        'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' +
        '3921825b2752ffb7de4faad362ee9f51f5d6255e802553c5c1c09fc0f9aed2376421bf17c01b0516524c5ff8fd65d55a',
    ),
  );
  assert.equal(s1.timerAt, 1010, 'server retransmits its flight after 1 s');

  // C→S CCS (01 00 01) + Finished (epoch 1, seq 0, message_seq 2) in one datagram.
  const c2 = client.handleDatagram(s1.send[0]!, 20);
  assert.deepEqual(c2.drops, []);
  assert.equal(c2.events[0]?.type, 'established');
  assert.equal(c2.timerAt, null);
  const [cccs, cfin] = records(c2.send[0]!);
  assert.deepEqual(cccs, hex('14 01 00 00 00 00 00 00 00 00 01 00 03 01 00 01'));
  assert.deepEqual(cfin!.subarray(0, 13), hex('16 01 00 00 01 00 00 00 00 00 00 00 40'));
  const kb = deriveKeyBlock(DTLS0_9, getSuite(suiteId)!, master, clientRandom, serverRandom);
  const plain = createRecordProtection(getSuite(suiteId)!, kb.client).open(ContentType.handshake, DTLS0_9, 1, 0, cfin!.subarray(13));
  assert.deepEqual(plain, Buffer.concat([hex('14 00 00 0c 00 02 00 00 00 00 00 0c'), hex('51b084290ca44305cc3fb5f0')]));

  const s2 = server.handleDatagram(c2.send[0]!, 30);
  assert.deepEqual(s2.drops, []);
  assert.equal(s2.events[0]?.type, 'established');
  assert.equal(s2.timerAt, null);

  // Application data both ways.
  const r1 = server.handleDatagram(client.protect(hex('00 45 00')), 40);
  assert.deepEqual(r1.deliver, [hex('00 45 00')]);
  const r2 = client.handleDatagram(server.protect(hex('03')), 50);
  assert.deepEqual(r2.deliver, [hex('03')]);
});

test('DTLS 0.9 with HelloVerifyRequest: numbering of OpenSSL bad_dtls_test (CCS 01 00 02, Finished seq 3)', () => {
  const client = newClient();
  const server = newServer({ secret: Buffer.alloc(32, 7) });
  const c1 = client.start(0);
  const s1 = server.handleDatagram(c1.send[0]!, 1);
  assert.deepEqual(s1.drops, ['cookie-required']);
  assert.equal(s1.timerAt !== null, true, 'handshake deadline runs');
  const [hvr] = records(s1.send[0]!);
  // HVR: record seq 0 (echoes the ClientHello's), message_seq 0, version 01 00, 20-byte cookie.
  assert.deepEqual(hvr!.subarray(0, 28), hex('16 01 00 00 00 00 00 00 00 00 00 00 23 03 00 00 17 00 00 00 00 00 00 00 17 01 00 14'));

  const c2 = client.handleDatagram(s1.send[0]!, 2);
  const [ch2] = records(c2.send[0]!);
  // Second ClientHello: record seq 1, message_seq 1, same random, now with the cookie.
  assert.deepEqual(ch2!.subarray(0, 13), hex('16 01 00 00 00 00 00 00 00 00 01 00 6a'));
  assert.deepEqual(ch2!.subarray(13, 19), hex('01 00 00 5e 00 01'));
  assert.deepEqual(ch2!.subarray(27, 59), clientRandom);

  const s2 = server.handleDatagram(c2.send[0]!, 3);
  assert.deepEqual(s2.drops, []);
  const [sh, ccs, fin] = records(s2.send[0]!);
  assert.deepEqual(sh!.subarray(0, 19), hex('16 01 00 00 00 00 00 00 00 00 01 00 52 02 00 00 46 00 01'));
  assert.deepEqual(ccs, hex('14 01 00 00 00 00 00 00 00 00 02 00 03 01 00 02'));
  assert.deepEqual(fin!.subarray(0, 13), hex('16 01 00 00 01 00 00 00 00 00 00 00 40'));

  const c3 = client.handleDatagram(s2.send[0]!, 4);
  assert.equal(c3.events[0]?.type, 'established');
  const [cccs] = records(c3.send[0]!);
  assert.deepEqual(cccs!.subarray(13), hex('01 00 02'));
  const s3 = server.handleDatagram(c3.send[0]!, 5);
  assert.equal(s3.events[0]?.type, 'established');
});

test('retransmission schedule: 1 s, doubling, fresh record sequence numbers, then timeout', () => {
  const client = new DtlsClient({
    role: 'client',
    mode: 'resume',
    version: DTLS0_9,
    suite: suiteId,
    sessionId,
    masterSecret: master,
    handshakeTimeoutMs: 20_000,
    maxRetransmitMs: 8_000,
  });
  const first = client.start(0);
  const sent = [...first.send];
  let at = first.timerAt;
  const times: number[] = [];
  let failed = false;
  while (at !== null) {
    times.push(at);
    const r = client.onTimer(at);
    sent.push(...r.send);
    failed ||= r.events.some((e) => e.type === 'failed' && e.reason === 'timeout');
    at = r.timerAt;
  }
  assert.deepEqual(times, [1000, 3000, 7000, 15000, 20000]);
  assert.ok(failed);
  assert.equal(client.status, 'failed');
  // Same ClientHello (message_seq 0) each time, with record sequence numbers 0..4.
  assert.deepEqual(
    sent.map((d) => d.readUIntBE(5, 6)),
    [0, 1, 2, 3, 4],
  );
  for (const d of sent) assert.deepEqual(d.subarray(13), sent[0]!.subarray(13));
  // An early onTimer call is a no-op.
  const again = client.onTimer(0, createResult());
  assert.deepEqual(again.send, []);
});
