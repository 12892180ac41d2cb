/**
 * 3DES (a 64-bit block cipher: Sweet32) is never offered or accepted unless explicitly asked
 * for (issue 9 §2):
 *   - the gateway's DTLS answer never picks DES-CBC3-SHA by default, only with
 *     `dtls: { allow-3des: true }`, and then only when nothing better was offered;
 *   - our client's default X-DTLS-CipherSuite / X-DTLS12-CipherSuite and PSK ClientHello hold
 *     no 3DES; `--dtls-ciphers DES-CBC3-SHA` still asks for it explicitly;
 *   - TLS: neither side sets a cipher list, and Node's OpenSSL has no 3DES TLS suite at all
 *     (the server and client contexts built from defaults cannot negotiate one).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tls from 'node:tls';
import { buildDtlsOffer, DEFAULT_DTLS12_CIPHERS, DEFAULT_DTLS_CIPHERS } from '../../src/client/dtls-offer.js';
import { DEFAULT_PSK_SUITES, getSuite, SuiteId } from '../../src/dtls/index.js';
import { parseConfigText } from '../../src/gateway/config.js';
import { chooseDtlsOffer } from '../../src/gateway/dtls-offer.js';
import { parseConnectRequest } from '../../src/protocol/connect-headers.js';
import { HttpHeaders } from '../../src/protocol/http.js';

const MS = 'B3EF4F3369158CE248C1F7655561E55ABE450CDAEE0CDE56D6ADFDCF69015B17B0ACC19F54A903DF45428385EA3C370C';
const req = (suites: string) => parseConnectRequest(new HttpHeaders([['X-DTLS-Master-Secret', MS], ['X-DTLS-CipherSuite', suites]]));
const isDes = (name: string): boolean => /DES/i.test(name);

test('gateway: DES-CBC3-SHA is not chosen by default, even when it is all the client offers', () => {
  assert.equal(chooseDtlsOffer(req('DES-CBC3-SHA')), null);
  assert.equal(chooseDtlsOffer(req('DES-CBC3-SHA'), { allow3des: false }), null);
  assert.equal(chooseDtlsOffer(req('DES-CBC3-SHA:AES128-SHA'))?.name, 'AES128-SHA');
});

test('gateway: with allow-3des, DES-CBC3-SHA is the last resort', () => {
  assert.equal(chooseDtlsOffer(req('DES-CBC3-SHA'), { allow3des: true })?.name, 'DES-CBC3-SHA');
  assert.equal(chooseDtlsOffer(req('DES-CBC3-SHA:AES128-SHA'), { allow3des: true })?.name, 'AES128-SHA');
});

test('gateway config: dtls.allow-3des defaults to false, takes true/false only', () => {
  const parse = (yaml: string) => parseConfigText(yaml, 'test.yaml', '/etc/sslgate', '/etc/sslgate/test.yaml');
  const base = 'network: { address: 10.20.0.1/24 }\ngroups: [ { name: Employees } ]\n';
  assert.equal(parse(base).dtls.allow3des, false);
  assert.equal(parse(`${base}dtls: { allow-3des: true }\n`).dtls.allow3des, true);
  assert.throws(() => parse(`${base}dtls: { allow-3des: yes please }\n`), /dtls\.allow-3des/);
});

test('client: the default DTLS offer holds no 3DES; --dtls-ciphers DES-CBC3-SHA asks for it explicitly', () => {
  assert.equal(DEFAULT_DTLS_CIPHERS.filter(isDes).length, 0);
  assert.equal(DEFAULT_DTLS12_CIPHERS.filter(isDes).length, 0);
  const offer = buildDtlsOffer({}, (n) => Buffer.alloc(n, 1));
  assert.ok(offer.headers.length >= 2);
  for (const [, v] of offer.headers) assert.ok(!isDes(v), v);
  for (const id of DEFAULT_PSK_SUITES) assert.ok(!isDes(getSuite(id)!.name), getSuite(id)!.name);
  assert.ok(!DEFAULT_PSK_SUITES.includes(SuiteId.TLS_RSA_WITH_3DES_EDE_CBC_SHA));
  const explicit = buildDtlsOffer({ dtlsCiphers: 'DES-CBC3-SHA' }, (n) => Buffer.alloc(n, 1));
  assert.deepEqual(explicit.dtlsCiphers, ['DES-CBC3-SHA']);
});

test('TLS: Node has no 3DES TLS suite; default server and client contexts cannot use one', () => {
  // Positive control: the list is not empty and has the AES suites.
  const ciphers = tls.getCiphers();
  assert.ok(ciphers.includes('aes256-sha') || ciphers.includes('aes256-gcm-sha384'), ciphers.join(','));
  assert.deepEqual(ciphers.filter(isDes), []);
  // Asking for 3DES outright fails in both roles (the gateway's and the client's contexts are
  // built from the same defaults; neither sets `ciphers`).
  assert.throws(() => tls.createSecureContext({ ciphers: 'DES-CBC3-SHA' }), { code: 'ERR_SSL_NO_CIPHER_MATCH' });
  assert.throws(() => tls.createSecureContext({ ciphers: '3DES:@SECLEVEL=0' }), { code: 'ERR_SSL_NO_CIPHER_MATCH' });
});
