/**
 * Issue 9 §5: the Session owns its tunnel state, and CONNECT's decision half is pure. The
 * session's events (bind, replace, close, traffic seen) move its state consistently; the
 * negotiation gives the X-CSTP values and the DTLS headers from its inputs alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConnectRequest } from '../../src/protocol/connect-headers.js';
import { HttpHeaders } from '../../src/protocol/http.js';
import { parseConfigText } from '../../src/gateway/config.js';
import { IpPool } from '../../src/gateway/ip-pool.js';
import { SessionStore } from '../../src/gateway/sessions.js';
import { SessionTunnel } from '../../src/gateway/session-tunnel.js';
import { negotiateTunnel, type TunnelNegotiationInput } from '../../src/gateway/tunnel-negotiation.js';
import { parseIpv4 } from '../../src/protocol/ipv4.js';
import type { CstpChannel } from '../../src/tunnel/cstp-channel.js';

const cfg = parseConfigText('network: {address: 10.60.0.1/24, routes: [10.60.0.0/24], dns: [10.60.0.1]}\nbanner: hello\ndpd: 30\n', 'test', '/', null);

function tunnel(): SessionTunnel {
  // The session only keeps the tunnel; nothing here calls the channel.
  return new SessionTunnel({} as CstpChannel);
}

test('session: bind, replace by a reconnect, close of the old one, close of the live one', () => {
  const store = new SessionStore();
  const pool = new IpPool(cfg.network.address);
  const s = store.create('alice', cfg.groups[0]!, pool, '192.0.2.1', 'login-agent', { idleTimeout: 600, sessionTimeout: null });
  assert.equal(s.tunnel, null);
  assert.equal(s.channel, null);
  assert.equal(s.disconnectedAt, s.createdAt, 'a new session waits for its first CONNECT');
  s.leased(pool.lease(s.cookieHash)!);
  const t1 = tunnel();
  assert.equal(s.bindTunnel(t1, 'connect-agent', 1000), null);
  assert.equal(s.tunnel, t1);
  assert.equal(s.channel, t1.cstp, 'the channel is the tunnel\'s, not a second copy');
  assert.equal(s.disconnectedAt, null);
  assert.equal(s.userAgent, 'connect-agent');
  const t2 = tunnel();
  assert.equal(s.bindTunnel(t2, '', 2000), t1, 'a reconnect returns the tunnel it replaces');
  assert.equal(s.userAgent, 'connect-agent', 'an empty User-Agent keeps the old one');
  assert.equal(s.tunnelClosed(t1, 100, 200, 2100, { rx: 3, tx: 4 }), false, 'the replaced tunnel closing is not a disconnect');
  assert.equal(s.tunnel, t2);
  assert.deepEqual([s.closedRxBytes, s.closedTxBytes], [100, 200], 'its traffic still counts');
  assert.deepEqual([s.closedRxPackets, s.closedTxPackets], [3, 4], 'and its packets (accounting Stop after the tunnel is gone)');
  assert.equal(s.tunnelClosed(t2, 1, 2, 3000, { rx: 1, tx: 1 }), true);
  assert.equal(s.tunnel, null);
  assert.equal(s.disconnectedAt, 3000);
  assert.deepEqual([s.closedRxBytes, s.closedTxBytes], [101, 202]);
  assert.deepEqual([s.closedRxPackets, s.closedTxPackets], [4, 5]);
  store.remove(s);
  assert.equal(s.address, null, 'the lease is gone with the session');
  assert.equal(pool.used, 0);
});

test('session: only data packets seen by the sweep move lastActivity', () => {
  const store = new SessionStore();
  const s = store.create('bob', cfg.groups[0]!, new IpPool(cfg.network.address), '192.0.2.2', 'ua');
  s.bindTunnel(tunnel(), '', 1000);
  assert.equal(s.lastActivity, 1000);
  s.sawDataPackets(0, 5000);
  assert.equal(s.lastActivity, 1000, 'no data since the bind');
  s.sawDataPackets(3, 6000);
  assert.equal(s.lastActivity, 6000);
  s.sawDataPackets(3, 9000);
  assert.equal(s.lastActivity, 6000, 'the same count is no activity');
  assert.deepEqual(s.limits, { idleTimeout: null, sessionTimeout: null }, 'default limits: none');
});

function input(over: Partial<TunnelNegotiationInput> & { headers?: Record<string, string> } = {}): TunnelNegotiationInput {
  const headers = new HttpHeaders(Object.entries({ Cookie: 'webvpn=x', 'X-CSTP-Base-MTU': '1500', ...(over.headers ?? {}) }));
  return {
    config: cfg,
    request: parseConnectRequest(headers),
    group: cfg.groups[0]!,
    limits: { idleTimeout: 600, sessionTimeout: 3600 },
    address: parseIpv4('10.60.0.7')!,
    netmask: '255.255.255.0',
    tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    dtlsOn: true,
    dtlsId: Buffer.alloc(32, 0xab),
    ...over,
  };
}

test('negotiation: X-CSTP values from the group, the limits and the TLS cipher; no DTLS without an offer', () => {
  const n = negotiateTunnel(input());
  assert.equal(n.params.address, '10.60.0.7');
  assert.equal(n.params.netmask, '255.255.255.0');
  assert.deepEqual(n.params.dns, ['10.60.0.1']);
  assert.deepEqual(n.params.splitInclude, ['10.60.0.0/255.255.255.0']);
  assert.equal(n.params.idleTimeout, 600);
  assert.equal(n.params.sessionTimeout, 3600);
  assert.equal(n.params.dpd, 30);
  assert.equal(n.params.banner, 'hello');
  // what the auth server said at login (RADIUS Reply-Message) follows the banner: openconnect
  // shows X-CSTP-Banner, not the auth-complete's <banner>
  assert.equal(negotiateTunnel(input({ loginMessages: ['Welcome alice'] })).params.banner, 'hello\nWelcome alice');
  assert.equal(n.linkMtu, 1500);
  assert.equal(n.params.mtu, n.tlsMtu, 'without DTLS the CSTP MTU is the TLS data MTU');
  assert.equal(n.offer, null, 'the request offered no DTLS mode');
  assert.deepEqual(n.params.extra, []);
});

test('negotiation: PSK-NEGOTIATE offered -> App-ID headers with the given id, CSTP MTU within the DTLS one', () => {
  const headers = { 'X-DTLS-CipherSuite': 'PSK-NEGOTIATE' };
  const n = negotiateTunnel(input({ headers }));
  assert.equal(n.offer?.mode, 'psk');
  const h = new Map(n.params.extra);
  assert.equal(h.get('X-DTLS-App-ID'), 'ab'.repeat(32));
  assert.ok(n.params.mtu <= n.tlsMtu);
  const off = negotiateTunnel(input({ headers, dtlsOn: false }));
  assert.equal(off.offer, null, 'DTLS off at the gateway: no DTLS headers whatever the client offers');
  assert.deepEqual(off.params.extra, []);
});
