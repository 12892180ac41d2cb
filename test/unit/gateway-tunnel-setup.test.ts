/**
 * openTunnel on its own (src/gateway/tunnel-setup.ts), on the gateway end of a real TLS
 * connection on 127.0.0.1: the X-CSTP-* answer (address, netmask, routes, MTU arithmetic for
 * TLS 1.3 and 1.2), the X-DTLS-* headers when DTLS is offered (PSK key = the TLS exporter), a
 * reconnect that replaces the old channel, an exhausted pool (503), a bad cookie (401), and what
 * the end of the channel does to the session. Fakes: the router and the DTLS listener.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { encodeDisconnect } from '../../src/protocol/cstp.js';
import { openTunnel } from '../../src/gateway/tunnel-setup.js';
import type { DtlsListener } from '../../src/gateway/dtls-listener.js';
import type { SessionTunnel } from '../../src/gateway/session-tunnel.js';
import type { Session } from '../../src/gateway/sessions.js';
import { glue, parseRequest, tlsLoopback, waitFor, type ClientConn, type Glue } from './gateway-glue-helpers.js';

// openconnect 9.01's DTLS offer (transcripts/ocserv-dtls.txt)
const MS = 'B3EF4F3369158CE248C1F7655561E55ABE450CDAEE0CDE56D6ADFDCF69015B17B0ACC19F54A903DF45428385EA3C370C';
const PSK_OFFER = 'X-DTLS-CipherSuite: PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:AES256-SHA:AES128-SHA\r\n' + `X-DTLS-Master-Secret: ${MS}\r\n`;
const LEGACY_OFFER = 'X-DTLS-CipherSuite: AES128-SHA\r\n' + `X-DTLS-Master-Secret: ${MS}\r\n`;

class FakeDtls {
  readonly expected: Array<[Session, SessionTunnel]> = [];
  readonly forgotten: SessionTunnel[] = [];
  expect(s: Session, t: SessionTunnel): void {
    this.expected.push([s, t]);
  }
  forget(t: SessionTunnel): void {
    this.forgotten.push(t);
  }
}

let lb: Awaited<ReturnType<typeof tlsLoopback>>;
const accepted: TLSSocket[] = [];
const waiting: Array<(s: TLSSocket) => void> = [];

before(async () => {
  lb = await tlsLoopback((sock) => {
    const w = waiting.shift();
    if (w) w(sock);
    else accepted.push(sock);
  });
});
after(() => lb.close());

/** A client connection and the gateway's end of it. */
async function pair(opts?: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string }): Promise<{ client: ClientConn; gw: TLSSocket }> {
  const gwP = new Promise<TLSSocket>((r) => {
    const s = accepted.shift();
    if (s) r(s);
    else waiting.push(r);
  });
  const client = await lb.connect(opts);
  const gw = await gwP;
  // the gateway end must be secure before openTunnel reads its cipher
  if (!gw.getProtocol()) await new Promise((r) => gw.once('secure', r));
  return { client, gw };
}

function loggedIn(g: Glue, user = 'alice'): Session {
  return g.sessions.create(user, g.config.groups[0]!, g.pools.get('Employees')!, '127.0.0.1', 'Open AnyConnect VPN Agent v9.01');
}

const connectText = (token: string, extra = ''): string =>
  `CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: webvpn=${token}\r\nX-CSTP-Version: 1\r\nX-CSTP-Hostname: laptop\r\nX-CSTP-Address-Type: IPv4\r\n${extra}\r\n`;

/** CONNECT as the gateway sees it: the request parsed, then openTunnel on the gateway end. */
async function connect(g: Glue, token: string, extra = '', opts?: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string }) {
  const { client, gw } = await pair(opts);
  const { req, rest } = parseRequest(connectText(token, extra));
  openTunnel(gw, req, rest, g.tunnelDeps, '127.0.0.1');
  const head = await client.nextHead();
  const h = (name: string): string | undefined => head.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  const all = (name: string): string[] => head.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  return { client, gw, head, h, all };
}

test('X-CSTP-* answer: address, netmask, routes, banner, DPD; MTU from Base-MTU and the TLS 1.3 overhead', async () => {
  const g = glue();
  const s = loggedIn(g);
  const r = await connect(g, s.token, 'X-CSTP-Base-MTU: 1400\r\n');
  assert.deepEqual([r.head.status, r.head.reason], [200, 'CONNECTED']);
  assert.equal(r.h('X-CSTP-Address'), '10.60.0.2');
  assert.equal(r.h('X-CSTP-Netmask'), '255.255.255.248');
  assert.deepEqual(r.all('X-CSTP-Split-Include'), ['10.60.0.0/255.255.255.0']);
  assert.equal(r.h('X-CSTP-Banner'), 'Hello from the unit test');
  assert.equal(r.h('X-CSTP-DPD'), String(g.config.dpd));
  assert.equal(r.h('X-CSTP-Base-MTU'), '1400');
  // 1400 - 20 IP - 20 TCP - 5 TLS header - 17 TLS 1.3 AEAD - 8 CSTP = 1330 (PROTOCOL.md §6.9)
  assert.equal(r.h('X-CSTP-MTU'), '1330');
  assert.equal(r.all('X-DTLS-Port').length, 0, 'no DTLS headers when DTLS is off');
  assert.equal(s.address !== null && g.router.attached.get(s.address), s.tunnel);
  assert.equal(s.channel, s.tunnel?.cstp);
  const up = g.seen.find((e) => e.type === 'connect');
  assert.equal(up?.type === 'connect' && up.reconnect, false);
  r.client.end();
});

test('MTU: TLS 1.2 AES-GCM costs 24 bytes per record; no (or an implausible) Base-MTU means the gateway mtu', async () => {
  const g = glue();
  const a = await connect(g, loggedIn(g).token, 'X-CSTP-Base-MTU: 1400\r\n', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384' });
  assert.equal(a.gw.getProtocol(), 'TLSv1.2');
  assert.equal(a.h('X-CSTP-MTU'), String(1400 - 20 - 20 - 5 - 24 - 8));
  const b = await connect(g, loggedIn(g, 'bob').token);
  assert.deepEqual([b.h('X-CSTP-Base-MTU'), b.h('X-CSTP-MTU')], ['1500', String(1500 - 20 - 20 - 5 - 17 - 8)]);
  const c = await connect(g, loggedIn(g, 'carol').token, 'X-CSTP-Base-MTU: 700\r\n'); // < 800: ignored, as ocserv
  assert.equal(c.h('X-CSTP-Base-MTU'), '1500');
  for (const x of [a, b, c]) x.client.end();
});

test('DTLS offered: PSK-NEGOTIATE with a fresh App-ID per CONNECT and the TLS exporter as key; legacy with X-DTLS-MTU', async () => {
  const g = glue();
  const dtls = new FakeDtls();
  g.tunnelDeps.dtls = dtls as unknown as DtlsListener;
  const s = loggedIn(g);
  const r = await connect(g, s.token, 'X-CSTP-Base-MTU: 1400\r\n' + PSK_OFFER);
  assert.equal(r.h('X-DTLS-CipherSuite'), 'PSK-NEGOTIATE');
  assert.match(r.h('X-DTLS-App-ID') ?? '', /^[0-9a-f]{64}$/);
  assert.equal(r.h('X-DTLS-Port'), String(g.config.dtls.port));
  assert.equal(r.h('X-DTLS-MTU'), undefined, 'PSK mode: openconnect derives the DTLS MTU itself');
  assert.equal(r.h('X-CSTP-MTU'), '1330', 'the TLS 1.3 figure is below the DTLS one (1334)');
  assert.deepEqual(dtls.expected.map(([x, t]) => [x, t]), [[s, s.tunnel]]);
  const psk = s.tunnel!.dtls!.psk!;
  const clientKey = (r.client.sock.exportKeyingMaterial as unknown as (n: number, label: string) => Buffer).call(r.client.sock, 32, 'EXPORTER-openconnect-psk');
  assert.deepEqual(psk, clientKey, 'the PSK is the RFC 5705 exporter without context (§6.7)');
  assert.equal(s.tunnel!.dtls!.idHex, r.h('X-DTLS-App-ID'));

  const other = loggedIn(g, 'bob');
  const l = await connect(g, other.token, 'X-CSTP-Base-MTU: 1400\r\n' + LEGACY_OFFER);
  assert.match(l.h('X-DTLS-Session-ID') ?? '', /^[0-9a-f]{64}$/);
  assert.notEqual(l.h('X-DTLS-Session-ID'), r.h('X-DTLS-App-ID'));
  assert.equal(l.h('X-DTLS-CipherSuite'), 'AES128-SHA');
  // 1400 - 20 IP - 8 UDP - 13 DTLS header = 1359; - 16 IV = 1343, whole blocks 1328;
  // - 20 MAC - 1 padding byte = 1307; - 1 AnyConnect type byte = 1306. X-CSTP-MTU is kept within it.
  assert.deepEqual([l.h('X-DTLS-MTU'), l.h('X-CSTP-MTU')], ['1306', '1306']);
  r.client.end();
  l.client.end();
});

test('a reconnect with the cookie replaces the old channel: the old connection closes, the address stays', async () => {
  const g = glue();
  const dtls = new FakeDtls();
  g.tunnelDeps.dtls = dtls as unknown as DtlsListener;
  const s = loggedIn(g);
  const first = await connect(g, s.token, PSK_OFFER);
  const oldChannel = s.channel;
  const oldTunnel = s.tunnel!;
  const addr = first.h('X-CSTP-Address');
  const second = await connect(g, s.token, PSK_OFFER);
  await first.client.waitClosed();
  assert.equal(second.h('X-CSTP-Address'), addr, 'the same lease');
  assert.notEqual(s.channel, oldChannel);
  assert.equal(oldChannel?.isOpen, false);
  assert.ok(dtls.forgotten.includes(oldTunnel), 'the old DTLS expectation is dropped');
  assert.equal(g.router.attached.get(s.address!), s.tunnel, 'the router has the new tunnel');
  assert.equal(s.channel?.isOpen, true);
  assert.equal(g.ended.length, 0, 'the session lives on');
  const connects = g.seen.filter((e) => e.type === 'connect');
  assert.deepEqual(connects.map((e) => e.type === 'connect' && e.reconnect), [false, true]);
  second.client.end();
});

test('pool exhausted -> 503 with X-Reason; unknown cookie -> 401; neither makes a tunnel', async () => {
  const g = glue();
  const s = loggedIn(g);
  // Leases come from the state store (issue 12): fill the session's pool there.
  for (let i = 0; (await g.sessions.backing.lease(s.poolRef, `filler-${i}`)) !== null; i++);
  const full = await connect(g, s.token);
  assert.deepEqual([full.head.status, full.head.reason], [503, 'Service Unavailable']);
  assert.equal(full.h('X-Reason'), 'No address available');
  await full.client.waitClosed();
  assert.equal(s.channel, null);
  assert.equal(g.router.attached.size, 0);

  const bad = await connect(g, 'no-such-cookie');
  assert.deepEqual([bad.head.status, bad.head.reason], [401, 'Cookie is not acceptable']);
  await bad.client.waitClosed();
  assert.deepEqual(g.seen.filter((e) => e.type === 'auth-failure').map((e) => e.type === 'auth-failure' && e.reason), ['bad-cookie']);
});

test('the end of the channel: a lost connection keeps the session for a reconnect; DISCONNECT 0xb0 ends it', async () => {
  const g = glue();
  const s = loggedIn(g);
  const a = await connect(g, s.token);
  const addr = s.address!;
  a.client.end(); // connection lost, no goodbye
  await waitFor(() => s.channel === null, 'the channel to close');
  assert.equal(s.channel, null);
  assert.equal(s.tunnel, null);
  assert.notEqual(s.disconnectedAt, null);
  assert.equal(g.router.attached.has(addr), false);
  assert.equal(g.ended.length, 0);
  assert.ok(g.sessions.byCookie(s.token), 'kept for the reconnect');

  const b = await connect(g, s.token);
  b.client.write(encodeDisconnect(0xb0, 'user logout'));
  await waitFor(() => g.ended.length > 0, 'the session to end');
  assert.deepEqual(g.ended.map(([x, why]) => [x.id, why]), [[s.id, 'client disconnect']]);
  assert.equal(g.sessions.byCookie(s.token), undefined);
});
