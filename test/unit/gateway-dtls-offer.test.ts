import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseDtlsOffer, dtlsResponseHeaders } from '../../src/gateway/dtls-offer.js';
import { parseConnectRequest } from '../../src/protocol/connect-headers.js';
import { HttpHeaders } from '../../src/protocol/http.js';

const MS = 'B3EF4F3369158CE248C1F7655561E55ABE450CDAEE0CDE56D6ADFDCF69015B17B0ACC19F54A903DF45428385EA3C370C';
// openconnect 9.01's default offer (transcripts/ocserv-dtls.txt)
const DEFAULT_OFFER = [
  ['X-DTLS-Master-Secret', MS],
  ['X-DTLS-CipherSuite', 'PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:OC2-DTLS1_2-CHACHA20-POLY1305:OC-DTLS1_2-AES128-GCM:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA'],
  ['X-DTLS12-CipherSuite', 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-GCM-SHA256:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA'],
] as Array<[string, string]>;

const req = (h: Array<[string, string]>) => parseConnectRequest(new HttpHeaders(h));

test('mode choice follows §6.2: PSK, then DTLS 1.2, then OC-DTLS1_2, then 0.9', () => {
  assert.equal(chooseDtlsOffer(req(DEFAULT_OFFER))?.name, 'PSK-NEGOTIATE');
  const d12 = chooseDtlsOffer(req([['X-DTLS-Master-Secret', MS], ['X-DTLS12-CipherSuite', 'AES256-GCM-SHA384']]));
  assert.equal(d12?.mode === 'resume' && d12.header, 'X-DTLS12-CipherSuite');
  assert.equal(d12?.name, 'AES256-GCM-SHA384');
  assert.equal(chooseDtlsOffer(req([['X-DTLS-Master-Secret', MS], ['X-DTLS-CipherSuite', 'OC-DTLS1_2-AES128-GCM:AES128-SHA']]))?.name, 'OC-DTLS1_2-AES128-GCM');
  assert.equal(chooseDtlsOffer(req([['X-DTLS-Master-Secret', MS], ['X-DTLS-CipherSuite', 'AES128-SHA']]))?.name, 'AES128-SHA');
  // ECDSA names are never picked (openconnect aborts DTLS on them, quirk 11)
  assert.equal(chooseDtlsOffer(req([['X-DTLS-Master-Secret', MS], ['X-DTLS12-CipherSuite', 'ECDHE-ECDSA-AES256-GCM-SHA384']])), null);
  // resume modes need a well-formed master secret
  assert.equal(chooseDtlsOffer(req([['X-DTLS-Master-Secret', 'abc'], ['X-DTLS-CipherSuite', 'AES128-SHA']])), null);
  assert.equal(chooseDtlsOffer(req([])), null);
});

test('headers: PSK has App-ID and no MTU; resume has a 64-hex Session-ID and X-DTLS-MTU', () => {
  const id = Buffer.alloc(32, 0xab);
  const psk = dtlsResponseHeaders({ offer: chooseDtlsOffer(req(DEFAULT_OFFER))!, id, port: 443, dpd: 90, keepalive: 30, linkMtu: 1500 });
  const names = psk.map(([k]) => k);
  assert.ok(names.includes('X-DTLS-App-ID') && !names.includes('X-DTLS-MTU') && !names.includes('X-DTLS-Session-ID'));
  assert.deepEqual(psk.find(([k]) => k === 'X-DTLS-CipherSuite'), ['X-DTLS-CipherSuite', 'PSK-NEGOTIATE']);
  const legacy = dtlsResponseHeaders({ offer: chooseDtlsOffer(req([['X-DTLS-Master-Secret', MS], ['X-DTLS-CipherSuite', 'AES128-SHA']]))!, id, port: 4443, dpd: 90, keepalive: 30, linkMtu: 1500 });
  const sid = legacy.find(([k]) => k === 'X-DTLS-Session-ID')![1];
  assert.match(sid, /^[0-9a-f]{64}$/, 'exactly 64 hex digits (quirk 17)');
  assert.deepEqual(legacy.find(([k]) => k === 'X-DTLS-Port'), ['X-DTLS-Port', '4443']);
  const mtu = Number(legacy.find(([k]) => k === 'X-DTLS-MTU')![1]);
  assert.ok(mtu > 1380 && mtu < 1440, `X-DTLS-MTU ${mtu}`);
});
