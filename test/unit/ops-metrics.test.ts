import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayMetrics } from '../../src/gateway/ops/metrics.js';
import { OpsStats } from '../../src/gateway/ops/stats.js';
import { disconnectReason } from '../../src/gateway/ops/tunnel-events.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';
import { FakeGateway } from './ops-helpers.js';

test('metrics: valid exposition; counters follow events and the data plane counters', async (t) => {
  const gw = new FakeGateway();
  const stats = new OpsStats(gw);
  const m = new GatewayMetrics(gw, stats);
  t.after(() => (m.close(), stats.close()));
  const a = gw.connect('alice');
  gw.connect('bob');
  gw.events.emit({ type: 'login', session: a.id, user: 'alice', group: 'default', remote: '10.0.0.1', agent: 'x' });
  gw.events.emit({ type: 'login', session: 99, user: 'carol', group: 'default', remote: '10.0.0.3', agent: 'x', methods: ['corp-ldap', 'totp'] });
  gw.events.emit({ type: 'auth-failure', remote: '10.0.0.1', user: 'eve', reason: 'bad-credentials' });
  gw.events.emit({ type: 'connect', session: a.id, user: 'alice', group: 'default', remote: '10.0.0.1', address: '10.50.0.2', channel: 'TLS', cipher: 'x', mtu: 1399, reconnect: false });
  a.fake.counters.rxBytes = 5000;
  a.fake.counters.rxPackets = 5;
  a.fake.counters.txBytes = 7000;
  let e = parsePrometheus(await m.text());
  assert.equal(e.types.get('sslgate_tunnel_bytes_total'), 'counter');
  assert.equal(valueOf(e, 'sslgate_sessions', { state: 'connected', channel: 'TLS' }), 2);
  assert.equal(valueOf(e, 'sslgate_auth_total', { result: 'success', reason: 'password' }), 1);
  assert.equal(valueOf(e, 'sslgate_auth_total', { result: 'success', reason: 'corp-ldap+totp' }), 1, 'a login counts under the methods that passed');
  assert.equal(valueOf(e, 'sslgate_auth_total', { result: 'failure', reason: 'bad-credentials' }), 1);
  assert.equal(valueOf(e, 'sslgate_tunnel_bytes_total', { direction: 'in', channel: 'TLS' }), 5000);
  assert.equal(valueOf(e, 'sslgate_tunnel_bytes_total', { direction: 'out', channel: 'TLS' }), 7000);
  assert.equal(valueOf(e, 'sslgate_tunnel_bytes_total', { direction: 'in', channel: 'DTLS' }), 0);
  assert.equal(valueOf(e, 'sslgate_tunnel_mtu_bytes_bucket', { le: '1400' }), 1);
  assert.equal(valueOf(e, 'sslgate_router_packets_total', { result: 'no-route' }), 1);
  assert.equal(valueOf(e, 'sslgate_pool_addresses', { state: 'leased' }), 2);
  assert.ok(valueOf(e, 'nodejs_eventloop_lag_seconds') >= 0);
  assert.equal(valueOf(e, 'sslgate_tls_connections'), 2);
  // the attack-facing limits, read from their own counters (the fake's: 5 now, 4 expired; DTLS 3/2/1)
  assert.equal(valueOf(e, 'sslgate_unauthenticated_connections'), 5);
  assert.equal(valueOf(e, 'sslgate_auth_deadline_expired_total'), 4);
  assert.equal(valueOf(e, 'sslgate_dtls_listener_total', { event: 'unknown-peer' }), 3);
  assert.equal(valueOf(e, 'sslgate_dtls_listener_total', { event: 'handshake-refused' }), 2);
  assert.equal(valueOf(e, 'sslgate_dtls_listener_total', { event: 'association-replaced' }), 1);

  // the tunnel closes: its bytes move from "live" to "closed", the total does not go back
  gw.events.emit({ type: 'disconnect', session: a.id, user: 'alice', channel: 'TLS', reason: 'connection-lost', sessionKept: true, counters: { rxBytes: 5000, txBytes: 7000, rxPackets: 5, txPackets: 7, txDrops: 0 } });
  a.fake.destroy({ kind: 'socket-closed' });
  gw.endSession(a, 'idle timeout');
  for (let i = 0; i < 10; i++) gw.gate.guard.addPoints('10.6.6.6', 'password');
  e = parsePrometheus(await m.text());
  assert.equal(valueOf(e, 'sslgate_tunnel_bytes_total', { direction: 'in', channel: 'TLS' }), 5000);
  assert.equal(valueOf(e, 'sslgate_tunnel_disconnects_total', { reason: 'connection-lost' }), 1);
  assert.equal(valueOf(e, 'sslgate_sessions_ended_total', { reason: 'idle-timeout' }), 1);
  assert.equal(valueOf(e, 'sslgate_sessions', { state: 'connected' }), 1);
  assert.equal(valueOf(e, 'sslgate_bans', { kind: 'address' }), 1);
  assert.equal(valueOf(e, 'sslgate_bans_total', { kind: 'address' }), 1);
});

test('disconnect reasons are a small fixed set; only logout/error/gateway end the session', () => {
  assert.deepEqual(disconnectReason({ kind: 'peer-disconnect', reason: 0xb0, text: 'bye' }), { reason: 'client-logout', sessionKept: false });
  assert.deepEqual(disconnectReason({ kind: 'peer-disconnect', reason: 0x91, text: '' }), { reason: 'client-reconnect', sessionKept: true });
  assert.deepEqual(disconnectReason({ kind: 'local', text: 'admin disconnect' }), { reason: 'admin-disconnect', sessionKept: true });
  assert.deepEqual(disconnectReason({ kind: 'local', text: 'idle timeout' }), { reason: 'session-ended', sessionKept: false });
  assert.deepEqual(disconnectReason({ kind: 'dpd-timeout' }), { reason: 'dpd-timeout', sessionKept: true });
});

test('the test helper rejects malformed exposition text', () => {
  assert.throws(() => parsePrometheus('foo 1\n'), /undeclared/);
  assert.throws(() => parsePrometheus('# TYPE foo counter\nfoo{a="b} 1\n'), /unterminated|bad label/);
  assert.throws(() => parsePrometheus('# TYPE foo gauge\nfoo one\n'), /bad value/);
  const e = parsePrometheus('# HELP foo x\n# TYPE foo counter\nfoo_total{a="q\\"x"} 3\n');
  assert.equal(valueOf(e, 'foo_total', { a: 'q"x' }), 3);
});

test('status lastReload: the newest reload wins, not the last message (another worker\'s older reload arrives relayed)', () => {
  const gw = new FakeGateway();
  const stats = new OpsStats(gw);
  try {
    gw.events.emit({ type: 'reload', ok: true });
    const older = stats.lastReload!.time;
    gw.events.relay({ type: 'reload', ok: true, time: new Date(Date.parse(older) + 5).toISOString(), worker: 1 });
    assert.equal(stats.lastReload?.ok, true);
    // This worker's failed reload, then worker 1's success of the reload before it, relayed late.
    gw.events.relay({ type: 'reload', ok: false, error: 'dpd: expected seconds', time: new Date(Date.parse(older) + 20).toISOString() });
    gw.events.relay({ type: 'reload', ok: true, time: new Date(Date.parse(older) + 10).toISOString(), worker: 1 });
    assert.deepEqual([stats.lastReload?.ok, stats.lastReload?.error], [false, 'dpd: expected seconds']);
  } finally {
    stats.close();
  }
});
