/**
 * Real ClientHellos from openconnect 9.01 (GnuTLS 3.7.9), rebuilt field by
 * field from the tshark dissections in /work/shared/reference/transcripts
 * (frame 25 of ocserv-dtls-wire.txt, ocserv-dtls-legacy-wire.txt and
 * ocserv-dtls12-cisco-wire.txt), parsed, peeked and answered by DtlsServer.
 */
import assert from 'node:assert/strict';
import { seeded } from '../helpers/seed.js';
import { test } from 'node:test';
import {
  DTLS0_9,
  DTLS1_2,
  DtlsServer,
  SuiteId,
  peekClientHello,
  peekClientHelloSessionId,
} from '../../src/dtls/index.js';
import { parseClientHello, parseHandshakeFragments, parseServerHello } from '../../src/dtls/messages.js';
import { newRecordHeader, readRecordHeader } from '../../src/dtls/record.js';
import { hex } from './dtls-helpers.js';

// Keys and payloads from the logged test seed (test/helpers/seed.ts): a failure replays.
const rng = seeded('dtls-transcripts');
const randomBytes = (n: number): Buffer => rng.bytes(n);

// signature_algorithms (13), 16 schemes, exactly as listed in the dissections.
const SIG_ALGS = hex('000d 0022 0020 0401 0809 0804 0403 0807 0501 080a 0805 0503 0808 0601 080b 0806 0603 0201 0203');
const SESSION_TICKET = hex('0023 0000');
const RENEG_INFO = hex('ff01 0001 00');
const RECORD_SIZE_LIMIT = hex('001c 0002 4000');

function record(recordVersion: string, recordSeq: string, hsBody: Buffer): Buffer {
  const hs = Buffer.concat([hex('01'), u24(hsBody.length), hex('0000 000000'), u24(hsBody.length), hsBody]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(hs.length);
  return Buffer.concat([hex('16'), hex(recordVersion), hex('0000'), hex(recordSeq), len, hs]);
}

function u24(n: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUIntBE(n, 0, 3);
  return b;
}

function withLen16(b: Buffer): Buffer {
  const l = Buffer.alloc(2);
  l.writeUInt16BE(b.length);
  return Buffer.concat([l, b]);
}

// --- ocserv-dtls-wire.txt, frame 25: PSK-NEGOTIATE ClientHello -------------------------------
const pskAppId = hex('7e19c18456e122bf420c6b68f1197cd87d9ce3ccb752231a956cf158f556f3dc');
const pskBody = Buffer.concat([
  hex('fefd'),
  hex('cd90dc5c1a3b0f6664d60ecd415cc2bffc317723af3b7497a98dc1581c580383'),
  hex('20'),
  pskAppId,
  hex('00'), // cookie
  hex('0010 00a9 ccab c0a5 008d 00a8 c0a4 008c 00ae'),
  hex('01 00'),
  withLen16(Buffer.concat([SIG_ALGS, SESSION_TICKET, RENEG_INFO, RECORD_SIZE_LIMIT])),
]);
const pskDatagram = record('feff', '000000000000', pskBody);

// --- ocserv-dtls-legacy-wire.txt, frame 25: DTLS 0.9 AES128-SHA resume ClientHello ---------
const legacySid = hex('0b0554b5b72d751372c80c643785c535a94e3fe09568b9b42c93e62471872646');
const legacyBody = Buffer.concat([
  hex('0100'),
  hex('5a7fa685ae099857fb03cac85eec1c253359ba23c02c3191959f8e88596e4b45'),
  hex('20'),
  legacySid,
  hex('00'),
  hex('0002 002f'),
  hex('01 00'),
  withLen16(Buffer.concat([SESSION_TICKET, RENEG_INFO, RECORD_SIZE_LIMIT])),
]);
const legacyDatagram = record('0100', '000000000000', legacyBody);

// --- ocserv-dtls12-cisco-wire.txt, frame 25: DTLS 1.2 AES256-GCM-SHA384 resume ClientHello --
const ciscoSid = hex('dba29393d5c998d2efa3fe2e0c2ed6089e10f264b4d1fc06f41400648f10d1ba');
const ciscoBody = Buffer.concat([
  hex('fefd'),
  hex('dfd6016f8e753683a4023d601ee8804beef65c39b1710ffa2ec3a91123099bc0'),
  hex('20'),
  ciscoSid,
  hex('00'),
  hex('0002 009d'),
  hex('01 00'),
  withLen16(Buffer.concat([SIG_ALGS, SESSION_TICKET, RENEG_INFO, RECORD_SIZE_LIMIT])),
]);
const ciscoDatagram = record('fefd', '000000000000', ciscoBody);

test('rebuilt datagrams have the sizes tshark reported (record length 155 / 103 / 141)', () => {
  assert.equal(pskDatagram.length, 13 + 155);
  assert.equal(pskBody.length, 143);
  assert.equal(legacyDatagram.length, 13 + 103);
  assert.equal(legacyBody.length, 91);
  assert.equal(ciscoDatagram.length, 13 + 141);
  assert.equal(ciscoBody.length, 129);
});

test('parse openconnect PSK ClientHello: suites, extensions, no EMS', () => {
  const ch = parseClientHello(pskBody);
  assert.ok(ch);
  assert.equal(ch.version, DTLS1_2);
  assert.deepEqual(ch.sessionId, pskAppId);
  assert.deepEqual(ch.cipherSuites, [0x00a9, 0xccab, 0xc0a5, 0x008d, 0x00a8, 0xc0a4, 0x008c, 0x00ae]);
  assert.deepEqual(ch.extensions?.map((e) => e.type), [13, 35, 65281, 28]);
  assert.equal(ch.extensions?.some((e) => e.type === 23), false, 'openconnect 9.01 does not offer EMS');
});

test('peek: the gateway finds the App-ID / session id without state', () => {
  assert.deepEqual(peekClientHelloSessionId(pskDatagram), pskAppId);
  const p = peekClientHello(pskDatagram);
  assert.equal(p?.recordVersion, 0xfeff);
  assert.equal(p?.helloVersion, 0xfefd);
  assert.equal(p?.appIdExtension, null);
  assert.equal(p?.hasCookie, false);
  assert.deepEqual(peekClientHelloSessionId(legacyDatagram), legacySid);
  assert.equal(peekClientHello(legacyDatagram)?.recordVersion, 0x0100);
  assert.deepEqual(peekClientHelloSessionId(ciscoDatagram), ciscoSid);
});

test('PSK server answers openconnect\'s ClientHello like ocserv: 00 A9, renegotiation_info, ServerHelloDone', () => {
  const server = new DtlsServer({ role: 'server', mode: 'psk', psk: randomBytes(32), appId: pskAppId });
  const r = server.handleDatagram(pskDatagram, 0);
  assert.deepEqual(r.drops, []);
  assert.equal(r.send.length, 1);
  const d = r.send[0]!;
  const h = newRecordHeader();
  const next = readRecordHeader(d, 0, h);
  assert.equal(h.version, DTLS1_2);
  assert.equal(h.epoch, 0);
  const frags = parseHandshakeFragments(d.subarray(h.fragmentOffset, next))!;
  assert.equal(frags[0]!.msgType, 2);
  assert.equal(frags[0]!.messageSeq, 0);
  const sh = parseServerHello(frags[0]!.data)!;
  assert.equal(sh.version, DTLS1_2);
  assert.equal(sh.cipherSuite, SuiteId.TLS_PSK_WITH_AES_256_GCM_SHA384);
  assert.equal(sh.sessionId.length, 32);
  assert.notDeepEqual(sh.sessionId, pskAppId, 'fresh session id, as ocserv');
  assert.deepEqual(sh.extensions, [{ type: 0xff01, data: hex('00') }]);
  // Then ServerHelloDone, message_seq 1, record seq 1 (transcript frame 27).
  readRecordHeader(d, next, h);
  assert.equal(h.seq, 1);
  assert.deepEqual(d.subarray(h.fragmentOffset), hex('0e 000000 0001 000000 000000'));
});

test('DTLS 0.9 server answers openconnect\'s legacy ClientHello (extensions present) with SH + CCS + Finished', () => {
  const server = new DtlsServer({
    role: 'server',
    mode: 'resume',
    version: DTLS0_9,
    suite: SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA,
    sessionId: legacySid,
    masterSecret: hex('C67BC29938BDCF559234E10876026E035536788AD83284EB4451E778C0FD4502B83E0DD6BC9379AA97BA5D9461B925B0'),
  });
  const r = server.handleDatagram(legacyDatagram, 0);
  assert.deepEqual(r.drops, []);
  const d = r.send[0]!;
  const h = newRecordHeader();
  let off = readRecordHeader(d, 0, h);
  const sh = parseServerHello(parseHandshakeFragments(d.subarray(h.fragmentOffset, off))![0]!.data)!;
  assert.equal(sh.version, DTLS0_9);
  assert.deepEqual(sh.sessionId, legacySid);
  assert.equal(sh.cipherSuite, 0x002f);
  assert.equal(sh.extensions, null, 'no extensions in the resume ServerHello');
  off = readRecordHeader(d, off, h);
  assert.deepEqual(d.subarray(h.fragmentOffset, off), hex('01 0001'), 'CCS carries message_seq 1');
  readRecordHeader(d, off, h);
  assert.equal(h.epoch, 1);
  assert.equal(h.fragmentLength, 64, 'Finished record length 64, as ocserv (frame 28)');
});

test('DTLS 1.2 resume server answers openconnect\'s X-DTLS12 ClientHello (AES256-GCM-SHA384)', () => {
  const server = new DtlsServer({
    role: 'server',
    mode: 'resume',
    version: DTLS1_2,
    suite: SuiteId.TLS_RSA_WITH_AES_256_GCM_SHA384,
    sessionId: ciscoSid,
    masterSecret: hex('7B178212793B7C8FBE081CE8196355D4B064C30697D424EDAC169260895739BEBCDF209A022F85AFAE8480ADE50CBA5E'),
  });
  const r = server.handleDatagram(ciscoDatagram, 0);
  assert.deepEqual(r.drops, []);
  const d = r.send[0]!;
  const h = newRecordHeader();
  let off = readRecordHeader(d, 0, h);
  const frag = parseHandshakeFragments(d.subarray(h.fragmentOffset, off))![0]!;
  assert.equal(frag.messageSeq, 0);
  off = readRecordHeader(d, off, h);
  assert.deepEqual(d.subarray(h.fragmentOffset, off), hex('01'), 'one-byte CCS');
  readRecordHeader(d, off, h);
  // Finished: epoch 1, seq 0, 48 bytes = 8 nonce + 12 header + 12 verify_data + 16 tag (frame 28).
  assert.equal(h.epoch, 1);
  assert.equal(h.seq, 0);
  assert.equal(h.fragmentLength, 48);
  assert.deepEqual(d.subarray(h.fragmentOffset, h.fragmentOffset + 8), hex('0001 000000000000'));
});
