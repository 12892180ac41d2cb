/**
 * PRF, key block and Finished vectors.
 *
 * Appendix B of PROTOCOL.md (DTLS 0.9 / AES128-SHA), plus TLS 1.2 PRF vectors
 * cross-checked with `openssl kdf ... TLS1-PRF` (OpenSSL 3.0) on this machine.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { DTLS0_9, DTLS1_2 } from '../../src/dtls/constants.js';
import { computeVerifyData, deriveKeyBlock, deriveMasterSecret, pskPreMasterSecret } from '../../src/dtls/keys.js';
import { prfTls10, prfTls12 } from '../../src/dtls/prf.js';
import { getSuite, keyBlockLength, SuiteId } from '../../src/dtls/suites.js';
import { Transcript } from '../../src/dtls/transcript.js';
import { byteRange, hex } from './dtls-helpers.js';

const master = byteRange(0x00, 48);
const clientRandom = byteRange(0x40, 32);
const serverRandom = byteRange(0x60, 32);
const sessionId = byteRange(0x80, 32);
const aes128sha = getSuite(SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA)!;

// Appendix B handshake bodies.
const chBody = Buffer.concat([hex('01 00'), clientRandom, hex('20'), sessionId, hex('00'), hex('00 02 00 2f'), hex('01 00')]);
const shBody = Buffer.concat([hex('01 00'), serverRandom, hex('20'), sessionId, hex('00 2f'), hex('00')]);

test('Appendix B: key block (104 bytes) byte for byte', () => {
  const kb = deriveKeyBlock(DTLS0_9, aes128sha, master, clientRandom, serverRandom);
  assert.equal(keyBlockLength(aes128sha), 104);
  assert.equal(
    kb.raw.toString('hex'),
    '79bf5ed4b4e376bd17d2a56679c0696a7a80ca9a77e91646516a4659775cd1ad3f8e8c404b21b0a170f6a50a2357344dd431291d9646f91ba7b4e4f14510dc3f62a875a617641d9a0647b256e6080c80a9f52e02d6ab2524dee916f85a6bea958c692905db018f21',
  );
  assert.equal(kb.client.macKey.toString('hex'), '79bf5ed4b4e376bd17d2a56679c0696a7a80ca9a');
  assert.equal(kb.server.macKey.toString('hex'), '77e91646516a4659775cd1ad3f8e8c404b21b0a1');
  assert.equal(kb.client.encKey.toString('hex'), '70f6a50a2357344dd431291d9646f91b');
  assert.equal(kb.server.encKey.toString('hex'), 'a7b4e4f14510dc3f62a875a617641d9a');
  assert.equal(kb.client.fixedIv.toString('hex'), '0647b256e6080c80a9f52e02d6ab2524');
  assert.equal(kb.server.fixedIv.toString('hex'), 'dee916f85a6bea958c692905db018f21');
});

test('Appendix B: handshake body sizes', () => {
  assert.equal(chBody.length, 74);
  assert.equal(shBody.length, 70);
});

test('Appendix B: server and client verify_data (DTLS 0.9 hashes bodies only)', () => {
  const t = new Transcript(DTLS0_9);
  t.add(1, 0, chBody);
  t.add(2, 0, shBody);
  // DTLS 0.9 transcript hash = MD5(t) ‖ SHA1(t) over bodies only.
  const raw = Buffer.concat([chBody, shBody]);
  assert.deepEqual(
    t.digest(),
    Buffer.concat([createHash('md5').update(raw).digest(), createHash('sha1').update(raw).digest()]),
  );
  const server = computeVerifyData(DTLS0_9, aes128sha, master, 'server', t.digest());
  assert.equal(server.toString('hex'), '50d35b7bbeaef9360e5e40e9');
  t.add(20, 2, server);
  const client = computeVerifyData(DTLS0_9, aes128sha, master, 'client', t.digest());
  assert.equal(client.toString('hex'), '51b084290ca44305cc3fb5f0');
});

test('TLS 1.0 PRF with an odd-length secret (halves share a byte; openssl MD5-SHA1 TLS1-PRF)', () => {
  const out = prfTls10(hex('0102030405060708090a0b0c0d0e0f10111213141516171819'), 'odd label', hex('a1a2a3a4a5'), 40);
  assert.equal(out.toString('hex'), '0dbd6e941e1c365ef5e6f924b649db481a9245b9690292be64d4988afd4495eb986d3e188bedc1fa');
});

test('TLS 1.2 PRF P_SHA256 (openssl TLS1-PRF SHA256)', () => {
  const out = prfTls12('sha256', hex('9bbe436ba940f017b17652849a71db35'), 'test label', hex('a0ba9f936cda311827a6f796ffd5198c'), 100);
  assert.equal(
    out.toString('hex'),
    'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
  );
});

test('TLS 1.2 PRF P_SHA384 (openssl TLS1-PRF SHA384)', () => {
  const out = prfTls12('sha384', hex('b80b733d6ceefcdc71566ea48e5567df'), 'test label', hex('cd665cf6a8447dd6ff8b27555edb7465'), 64);
  assert.equal(
    out.toString('hex'),
    '7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd',
  );
});

test('RFC 4279 plain-PSK premaster: 00 20 ‖ 32×00 ‖ 00 20 ‖ psk', () => {
  const psk = byteRange(0xc0, 32);
  const pre = pskPreMasterSecret(psk);
  assert.equal(pre.length, 68);
  assert.deepEqual(pre.subarray(0, 2), hex('0020'));
  assert.deepEqual(pre.subarray(2, 34), Buffer.alloc(32));
  assert.deepEqual(pre.subarray(34, 36), hex('0020'));
  assert.deepEqual(pre.subarray(36), psk);
});

test('DTLS 1.2 master secret and key block sizes per suite', () => {
  const pre = pskPreMasterSecret(byteRange(1, 32));
  const gcm256 = getSuite(SuiteId.TLS_PSK_WITH_AES_256_GCM_SHA384)!;
  const ms = deriveMasterSecret(DTLS1_2, gcm256, pre, clientRandom, serverRandom);
  assert.deepEqual(ms, prfTls12('sha384', pre, 'master secret', Buffer.concat([clientRandom, serverRandom]), 48));
  assert.equal(keyBlockLength(gcm256), 2 * (32 + 4));
  assert.equal(keyBlockLength(getSuite(SuiteId.TLS_PSK_WITH_AES_128_GCM_SHA256)!), 2 * (16 + 4));
  assert.equal(keyBlockLength(getSuite(SuiteId.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256)!), 2 * (32 + 12));
  assert.equal(keyBlockLength(getSuite(SuiteId.TLS_RSA_WITH_AES_256_CBC_SHA)!), 136);
  assert.equal(keyBlockLength(getSuite(SuiteId.TLS_RSA_WITH_3DES_EDE_CBC_SHA)!), 104);
  const kb = deriveKeyBlock(DTLS1_2, gcm256, ms, clientRandom, serverRandom);
  assert.equal(kb.client.macKey.length, 0);
  assert.equal(kb.client.encKey.length, 32);
  assert.equal(kb.server.fixedIv.length, 4);
});
