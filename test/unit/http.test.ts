import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError, HttpRequestParser, HttpResponseParser, parseCookies, formatResponse } from '../../src/protocol/http.js';

// The CONNECT request openconnect 9.01 sent to ocserv (transcripts/ocserv-tls-only.txt).
const CONNECT = [
  'CONNECT /CSCOSSLC/tunnel HTTP/1.1',
  'Host: 10.77.0.1',
  'User-Agent: Open AnyConnect VPN Agent v9.01-3',
  'Cookie: webvpn=AZYsl6yZKanW0U1I2ES4G0GWWTpHBECfmSIY/l6KwFQ=',
  'X-CSTP-Version: 1',
  'X-CSTP-Hostname: vm',
  'X-CSTP-Accept-Encoding: oc-lz4,lzs',
  'X-CSTP-Base-MTU: 1500',
  'X-CSTP-MTU: 1390',
  'X-CSTP-Address-Type: IPv6,IPv4',
  'X-CSTP-Full-IPv6-Capability: true',
  '',
  '',
].join('\r\n');

test('request parser: POST with body, then CONNECT with trailing CSTP bytes', () => {
  const p = new HttpRequestParser();
  const body = '<?xml version="1.0"?><config-auth type="init"/>';
  const post = `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const all = Buffer.from(post + CONNECT + 'STF\x01');
  const reqs = [];
  for (let i = 0; i < all.length; i += 13) reqs.push(...p.push(all.subarray(i, i + 13)));
  assert.equal(reqs.length, 2);
  assert.equal(reqs[0]!.body.toString(), body);
  assert.equal(reqs[1]!.method, 'CONNECT');
  assert.equal(reqs[1]!.headers.get('x-cstp-base-mtu'), '1500');
  assert.equal(p.rest().toString('latin1'), 'STF\x01');
  assert.deepEqual(p.push(Buffer.from('more')), []);
});

test('request parser: limits and malformed input are HttpErrors with a status', () => {
  const big = new HttpRequestParser();
  assert.throws(() => big.push(Buffer.from('GET / HTTP/1.1\r\nX-A: ' + 'a'.repeat(1024 * 1024))), (e: unknown) => e instanceof HttpError && e.status === 431);
  assert.throws(() => new HttpRequestParser().push(Buffer.from('NONSENSE\r\n\r\n')), (e: unknown) => e instanceof HttpError && e.status === 400);
  assert.throws(() => new HttpRequestParser().push(Buffer.from('POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n')), (e: unknown) => e instanceof HttpError && e.status === 413);
  assert.throws(() => new HttpRequestParser().push(Buffer.from('POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n')), (e: unknown) => e instanceof HttpError && e.status === 400);
  assert.throws(() => new HttpRequestParser().push(Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n')), (e: unknown) => e instanceof HttpError && e.status === 501);
  assert.throws(() => new HttpRequestParser().push(Buffer.from('GET / HTTP/1.1\r\nbad header\r\n\r\n')), (e: unknown) => e instanceof HttpError);
});

test('response parser: content-length, chunked, until-close and CONNECT (no body)', () => {
  const cl = new HttpResponseParser();
  assert.equal(cl.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel')), null);
  const r = cl.push(Buffer.from('lo'));
  assert.equal(r?.body.toString(), 'hello');
  const ch = new HttpResponseParser();
  const c = ch.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n'));
  assert.equal(c?.body.toString(), 'abcde');
  const close = new HttpResponseParser();
  assert.equal(close.push(Buffer.from('HTTP/1.0 200 OK\r\n\r\nuntil close')), null);
  assert.equal(close.end()?.body.toString(), 'until close');
  const conn = new HttpResponseParser(undefined, true);
  const cr = conn.push(Buffer.from('HTTP/1.1 200 CONNECTED\r\nX-CSTP-MTU: 1400\r\n\r\nSTF\x01'));
  assert.equal(cr?.status, 200);
  assert.equal(cr?.reason, 'CONNECTED');
  assert.equal(conn.rest().toString('latin1'), 'STF\x01');
  assert.throws(() => new HttpResponseParser().push(Buffer.from('garbage\r\n\r\n')), HttpError);
});

test('cookies and response formatting keep exact spelling', () => {
  const c = parseCookies('webvpncontext=abc=; webvpn=tok/+=; other=1');
  assert.equal(c.get('webvpn'), 'tok/+=');
  assert.equal(c.get('webvpncontext'), 'abc=');
  const res = formatResponse(200, 'CONNECTED', [['X-CSTP-Split-Include', '10.0.0.0/255.0.0.0']]).toString();
  assert.equal(res, 'HTTP/1.1 200 CONNECTED\r\nX-CSTP-Split-Include: 10.0.0.0/255.0.0.0\r\n\r\n');
  assert.ok(res.startsWith('HTTP/1.1 200 '), 'openconnect matches these 13 bytes literally (§1.2 item 3)');
});
