import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpRequestParser, HttpResponseParser } from '../../src/protocol/http.js';
import { ConnectResponseError, formatConnectRequest, formatConnectResponseHeaders, parseConnectRequest, parseConnectResponse, encodeBanner, decodeBanner } from '../../src/protocol/connect-headers.js';
import { formatResponse } from '../../src/protocol/http.js';

// ocserv 1.1.6's answer to openconnect 9.01 (transcripts/ocserv-tls-only.txt).
const OCSERV_ANSWER = `HTTP/1.1 200 CONNECTED
X-CSTP-Version: 1
X-CSTP-Server-Name: ocserv 1.1.6
X-CSTP-Hostname: vm
X-CSTP-DPD: 90
X-CSTP-Default-Domain: lab.test
X-CSTP-Address: 192.168.77.50
X-CSTP-Netmask: 255.255.255.0
X-CSTP-DNS: 192.168.77.1
X-CSTP-Split-Include: 192.168.77.0/255.255.255.0
X-CSTP-Tunnel-All-DNS: false
X-CSTP-Client-Bypass-Protocol: false
X-CSTP-Keepalive: 32400
X-CSTP-Idle-Timeout: none
X-CSTP-Smartcard-Removal-Disconnect: true
X-CSTP-Rekey-Time: 172783
X-CSTP-Rekey-Method: ssl
X-CSTP-Session-Timeout: 0
X-CSTP-Session-Timeout-Remaining: 0
X-CSTP-Disconnected-Timeout: none
X-CSTP-Keep: true
X-CSTP-TCP-Keepalive: true
X-CSTP-License: accept
X-CSTP-Base-MTU: 1500
X-CSTP-MTU: 1472
X-CSTP-Banner: Welcome to the AnyConnect interop lab (ocserv)

`.replace(/\n/g, '\r\n');

test('parses ocserv 1.1.6 CONNECT answer into typed values', () => {
  const res = new HttpResponseParser(undefined, true).push(Buffer.from(OCSERV_ANSWER))!;
  const p = parseConnectResponse(res.headers);
  assert.equal(p.address, '192.168.77.50');
  assert.equal(p.netmask, '255.255.255.0');
  assert.deepEqual(p.dns, ['192.168.77.1']);
  assert.deepEqual(p.splitInclude, ['192.168.77.0/255.255.255.0']);
  assert.equal(p.mtu, 1472);
  assert.equal(p.baseMtu, 1500);
  assert.equal(p.dpd, 90);
  assert.equal(p.keepalive, 32400);
  assert.equal(p.idleTimeout, null);
  assert.equal(p.sessionTimeout, null);
  assert.equal(p.defaultDomain, 'lab.test');
  assert.equal(p.banner, 'Welcome to the AnyConnect interop lab (ocserv)');
  assert.equal(p.rekeyMethod, 'ssl');
  assert.ok(p.extra.some(([k]) => k === 'X-CSTP-Smartcard-Removal-Disconnect'));
});

test('a CONNECT answer without address or MTU is refused like openconnect does', () => {
  const noAddr = new HttpResponseParser(undefined, true).push(Buffer.from('HTTP/1.1 200 OK\r\nX-CSTP-MTU: 1400\r\n\r\n'))!;
  assert.throws(() => parseConnectResponse(noAddr.headers), ConnectResponseError);
  const noMtu = new HttpResponseParser(undefined, true).push(Buffer.from('HTTP/1.1 200 OK\r\nX-CSTP-Address: 10.0.0.2\r\n\r\n'))!;
  assert.throws(() => parseConnectResponse(noMtu.headers), ConnectResponseError);
});

test('gateway answer round-trips through the client parser with exact header names', () => {
  const headers = formatConnectResponseHeaders({
    address: '192.168.77.2', netmask: '255.255.255.0', dns: ['192.168.77.1'], nbns: [], splitDns: [], splitInclude: ['192.168.77.0/255.255.255.0'], splitExclude: [], splitIncludeIp6: [], splitExcludeIp6: [],
    dpd: 90, keepalive: 30, idleTimeout: 1800, sessionTimeout: null, disconnectedTimeout: 300, mtu: 1423, baseMtu: 1500, banner: 'line1\nline2 100%', extra: [], rekeyMethod: 'new-tunnel', rekeyTime: 86400,
  });
  const names = headers.map(([k]) => k);
  for (const n of ['X-CSTP-Version', 'X-CSTP-Address', 'X-CSTP-Netmask', 'X-CSTP-MTU', 'X-CSTP-DPD', 'X-CSTP-Keepalive', 'X-CSTP-Split-Include']) assert.ok(names.includes(n), n);
  assert.ok(!names.some((n) => n.startsWith('X-DTLS')), 'TLS-only: no X-DTLS-* headers');
  const wire = formatResponse(200, 'CONNECTED', headers);
  assert.ok(wire.toString().startsWith('HTTP/1.1 200 '));
  const p = parseConnectResponse(new HttpResponseParser(undefined, true).push(wire)!.headers);
  assert.equal(p.banner, 'line1\nline2 100%');
  assert.equal(p.idleTimeout, 1800);
  assert.equal(p.mtu, 1423);
});

test('client CONNECT request is what the gateway parser reads', () => {
  const head = formatConnectRequest({ host: 'gw', userAgent: 'UA', cookie: 'tok', hostname: 'laptop', baseMtu: 1500, mtu: 1390, addressHints: ['192.168.77.9'] });
  const req = new HttpRequestParser().push(Buffer.from(head))[0]!;
  const c = parseConnectRequest(req.headers);
  assert.equal(c.cookie, 'tok');
  assert.equal(c.hostname, 'laptop');
  assert.equal(c.baseMtu, 1500);
  assert.equal(c.mtu, 1390);
  assert.deepEqual(c.addressHints, ['192.168.77.9']);
  assert.ok(head.includes('\r\nX-CSTP-Protocol: Copyright (c) 2004 Cisco Systems, Inc.\r\n'));
});

test('banner percent-encoding', () => {
  assert.equal(encodeBanner('a\nb%'), 'a%0Ab%25');
  assert.equal(decodeBanner('a%0Ab%25'), 'a\nb%');
  assert.equal(decodeBanner('50% off'), '50% off');
});
