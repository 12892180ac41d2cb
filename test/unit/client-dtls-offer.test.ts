/**
 * The client's DTLS offer and its reading of the answer (src/client/dtls-offer.ts): header names,
 * order and values as openconnect sends them (PROTOCOL.md §4.1, transcripts), the
 * --dtls-ciphers / --dtls12-ciphers restrictions, every way an answer can be unusable, and the
 * TUN MTU while DTLS is expected (§6.9).
 */
import assert from 'node:assert/strict';
import { seeded } from '../helpers/seed.js';
import { test } from 'node:test';
import { DTLS0_9, DTLS1_2, SuiteId } from '../../src/dtls/index.js';
import { buildDtlsOffer, DEFAULT_DTLS_CIPHERS, dtlsTunMtu, parseCipherList, parseDtlsAnswer, planLabel, type DtlsOffer, type DtlsPlan } from '../../src/client/dtls-offer.js';
import { formatConnectRequest } from '../../src/protocol/connect-headers.js';
import { HttpHeaders } from '../../src/protocol/http.js';

// Keys and payloads from the logged test seed (test/helpers/seed.ts): a failure replays.
const rng = seeded('client-dtls-offer');
const randomBytes = (n: number): Buffer => rng.bytes(n);

const CSTP = { dpd: 30, keepalive: 20 };
const fixed = (n: number): Buffer => Buffer.alloc(n, 0xab);
const offer = (): DtlsOffer => buildDtlsOffer({}, fixed);
const headers = (list: Array<[string, string]>): HttpHeaders => new HttpHeaders(list);

// ocserv 1.1.6's answers, from transcripts/ocserv-dtls.txt and ocserv-dtls-legacy.txt.
const OCSERV_PSK: Array<[string, string]> = [
  ['X-DTLS-DPD', '90'],
  ['X-DTLS-Port', '443'],
  ['X-DTLS-Rekey-Time', '172810'],
  ['X-DTLS-Rekey-Method', 'ssl'],
  ['X-DTLS-Keepalive', '32400'],
  ['X-DTLS-App-ID', '7e19c18456e122bf420c6b68f1197cd87d9ce3ccb752231a956cf158f556f3dc'],
  ['X-DTLS-CipherSuite', 'PSK-NEGOTIATE'],
];
const SID = '0b0554b5b72d751372c80c643785c535a94e3fe09568b9b42c93e62471872646';
const OCSERV_LEGACY: Array<[string, string]> = [
  ['X-DTLS-DPD', '90'],
  ['X-DTLS-Port', '443'],
  ['X-DTLS-Keepalive', '32400'],
  ['X-DTLS-Session-ID', SID],
  ['X-DTLS-CipherSuite', 'AES128-SHA'],
  ['X-DTLS-MTU', '1406'],
];

test('default offer: master secret, X-DTLS-CipherSuite, X-DTLS12-CipherSuite, in that order, no Accept-Encoding', () => {
  const o = offer();
  assert.deepEqual(o.headers, [
    ['X-DTLS-Master-Secret', 'AB'.repeat(48)],
    ['X-DTLS-CipherSuite', 'PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:OC-DTLS1_2-AES128-GCM:AES256-SHA:AES128-SHA'],
    ['X-DTLS12-CipherSuite', 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-GCM-SHA256'],
  ]);
  assert.deepEqual(o.masterSecret, fixed(48));
  const head = formatConnectRequest({ host: 'vpn', userAgent: 'ua', cookie: 'c', hostname: 'h', baseMtu: 1500, mtu: 1390, ipv6: true, extra: o.headers });
  assert.match(head, /X-CSTP-Full-IPv6-Capability: true\r\nX-DTLS-Master-Secret: (AB){48}\r\nX-DTLS-CipherSuite: PSK-NEGOTIATE:[^\r]+\r\nX-DTLS12-CipherSuite: [^\r]+\r\n\r\n$/);
});

test('a fresh 48-byte master secret per CONNECT, 96 upper-case hex digits', () => {
  const a = buildDtlsOffer({}, randomBytes);
  const b = buildDtlsOffer({}, randomBytes);
  assert.match(a.headers[0]![1], /^[0-9A-F]{96}$/);
  assert.notEqual(a.headers[0]![1], b.headers[0]![1]);
});

test('--dtls-ciphers drops X-DTLS12, --dtls12-ciphers drops X-DTLS-CipherSuite, both keep both (openconnect)', () => {
  const legacy = buildDtlsOffer({ dtlsCiphers: 'AES128-SHA' }, fixed);
  assert.deepEqual(legacy.headers.map(([k]) => k), ['X-DTLS-Master-Secret', 'X-DTLS-CipherSuite']);
  assert.equal(legacy.headers[1]![1], 'AES128-SHA');
  const d12 = buildDtlsOffer({ dtls12Ciphers: 'AES256-GCM-SHA384' }, fixed);
  assert.deepEqual(d12.headers.map(([k]) => k), ['X-DTLS-Master-Secret', 'X-DTLS12-CipherSuite']);
  assert.equal(d12.headers[1]![1], 'AES256-GCM-SHA384');
  const both = buildDtlsOffer({ dtlsCiphers: 'PSK-NEGOTIATE:AES256-SHA', dtls12Ciphers: 'AES128-GCM-SHA256' }, fixed);
  assert.deepEqual(both.headers.slice(1), [['X-DTLS-CipherSuite', 'PSK-NEGOTIATE:AES256-SHA'], ['X-DTLS12-CipherSuite', 'AES128-GCM-SHA256']]);
});

test('cipher lists: only names src/dtls runs', () => {
  assert.deepEqual(parseCipherList('X-DTLS-CipherSuite', ' AES128-SHA : DES-CBC3-SHA ', '--dtls-ciphers'), ['AES128-SHA', 'DES-CBC3-SHA']);
  assert.throws(() => parseCipherList('X-DTLS-CipherSuite', 'AES128-SHA:DES-CBC-SHA', '--dtls-ciphers'), /--dtls-ciphers: unsupported DTLS cipher "DES-CBC-SHA" \(supported: PSK-NEGOTIATE, /);
  assert.throws(() => parseCipherList('X-DTLS12-CipherSuite', 'PSK-NEGOTIATE', '--dtls12-ciphers'), /unsupported/);
  assert.throws(() => parseCipherList('X-DTLS-CipherSuite', '::', '--dtls-ciphers'), /empty list/);
  for (const n of DEFAULT_DTLS_CIPHERS) assert.doesNotThrow(() => parseCipherList('X-DTLS-CipherSuite', n, 'x'));
});

test("ocserv's PSK-NEGOTIATE answer: App-ID, port, DPD, keepalive, no MTU", () => {
  const a = parseDtlsAnswer(headers(OCSERV_PSK), offer(), CSTP);
  assert.ok(a.ok);
  const p = a.plan;
  assert.equal(p.setup.mode, 'psk');
  assert.equal(p.appId!.toString('hex'), OCSERV_PSK[5]![1]);
  assert.equal(p.sessionId, null);
  assert.deepEqual([p.port, p.dpd, p.keepalive, p.mtu], [443, 90, 32400, null]);
  assert.equal(planLabel(p), 'PSK-NEGOTIATE');
  // PSK: data MTU from the link MTU for AES-256-GCM, as ocserv computes it (1434 for 1500).
  assert.equal(dtlsTunMtu(p, 1500, false), 1434);
  assert.equal(dtlsTunMtu(p, 1500, true), 1414);
  // After the handshake: a CBC suite needs more room.
  assert.ok(dtlsTunMtu(p, 1500, false, SuiteId.TLS_PSK_WITH_AES_256_CBC_SHA) < 1434);
});

test("ocserv's DTLS 0.9 answer: Session-ID, suite, X-DTLS-MTU", () => {
  const a = parseDtlsAnswer(headers(OCSERV_LEGACY), buildDtlsOffer({ dtlsCiphers: 'AES128-SHA' }, fixed), CSTP);
  assert.ok(a.ok);
  const p = a.plan;
  assert.ok(p.setup.mode === 'resume' && p.setup.version === DTLS0_9 && p.setup.suite === SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA);
  assert.equal(p.sessionId!.toString('hex'), SID);
  assert.deepEqual(p.masterSecret, fixed(48));
  assert.equal(p.mtu, 1406);
  assert.equal(dtlsTunMtu(p, 1500, false), 1406);
  assert.equal(planLabel(p), 'DTLS 0.9 AES128-SHA');
});

test('X-DTLS12-CipherSuite answer: DTLS 1.2 resume, the name read from the X-DTLS12 table', () => {
  const list: Array<[string, string]> = [['X-DTLS-Port', '4443'], ['X-DTLS-Session-ID', SID.toUpperCase()], ['X-DTLS12-CipherSuite', 'AES128-GCM-SHA256']];
  const a = parseDtlsAnswer(headers(list), offer(), CSTP);
  assert.ok(a.ok);
  assert.ok(a.plan.setup.mode === 'resume' && a.plan.setup.version === DTLS1_2 && a.plan.setup.suite === SuiteId.TLS_RSA_WITH_AES_128_GCM_SHA256);
  assert.equal(a.plan.header, 'X-DTLS12-CipherSuite');
  // no DPD/keepalive headers: CSTP's values
  assert.deepEqual([a.plan.port, a.plan.dpd, a.plan.keepalive, a.plan.mtu], [4443, 30, 20, null]);
  // no X-DTLS-MTU: computed for the suite (GCM: 1500 - 20 - 8 - 13 - 24 - 1)
  assert.equal(dtlsTunMtu(a.plan, 1500, false), 1434);
});

test('unusable answers disable DTLS with a reason (the tunnel stays up)', () => {
  const o = offer();
  const without = (name: string, list = OCSERV_PSK): Array<[string, string]> => list.filter(([k]) => k !== name);
  const cases: Array<[Array<[string, string]>, DtlsOffer, RegExp]> = [
    [[], o, /offered no DTLS/],
    [[...without('X-DTLS-CipherSuite'), ['X-DTLS-CipherSuite', 'DES-CBC3-SHA']], o, /chose X-DTLS-CipherSuite: DES-CBC3-SHA, which we did not offer/],
    [OCSERV_PSK, buildDtlsOffer({ dtls12Ciphers: 'AES256-GCM-SHA384' }, fixed), /chose X-DTLS-CipherSuite: PSK-NEGOTIATE, which we did not offer/],
    [[...without('X-DTLS-CipherSuite'), ['X-DTLS12-CipherSuite', 'ECDHE-ECDSA-AES128-GCM-SHA256']], o, /which we did not offer/],
    [without('X-DTLS-Port'), o, /no usable X-DTLS-Port \(missing\)/],
    [[...without('X-DTLS-Port'), ['X-DTLS-Port', '0']], o, /no usable X-DTLS-Port \(0\)/],
    [without('X-DTLS-App-ID'), o, /X-DTLS-App-ID is not 1\.\.32 bytes of hex \(missing\)/],
    [[...without('X-DTLS-App-ID'), ['X-DTLS-App-ID', 'abc']], o, /X-DTLS-App-ID/],
    [[...OCSERV_PSK, ['X-DTLS-Content-Encoding', 'lzs']], o, /DTLS compression "lzs", which was not offered/],
  ];
  const legacyOffer = buildDtlsOffer({ dtlsCiphers: 'AES128-SHA' }, fixed);
  // quirk 17: exactly 64 hex digits
  cases.push([[...without('X-DTLS-Session-ID', OCSERV_LEGACY), ['X-DTLS-Session-ID', SID.slice(2)]], legacyOffer, /X-DTLS-Session-ID is not 64 hex digits \(62 characters\)/]);
  cases.push([without('X-DTLS-Session-ID', OCSERV_LEGACY), legacyOffer, /X-DTLS-Session-ID is not 64 hex digits \(missing\)/]);
  cases.push([[...without('X-DTLS-Session-ID', OCSERV_LEGACY), ['X-DTLS-Session-ID', 'zz' + SID.slice(2)]], legacyOffer, /not 64 hex/]);
  for (const [list, off, re] of cases) {
    const a = parseDtlsAnswer(headers(list), off, CSTP);
    assert.equal(a.ok, false, JSON.stringify(list));
    if (!a.ok) assert.match(a.reason, re);
  }
});

test('an out-of-range X-DTLS-MTU is ignored (computed instead)', () => {
  const list: Array<[string, string]> = [...OCSERV_LEGACY.filter(([k]) => k !== 'X-DTLS-MTU'), ['X-DTLS-MTU', '40']];
  const a = parseDtlsAnswer(headers(list), buildDtlsOffer({ dtlsCiphers: 'AES128-SHA' }, fixed), CSTP);
  assert.ok(a.ok);
  const p: DtlsPlan = a.plan;
  assert.equal(p.mtu, null);
  assert.equal(dtlsTunMtu(p, 1500, false), 1418); // ocserv's "data MTU: 1418" for AES128-SHA (src/dtls/mtu.ts)
});
