/**
 * The gateway's pending DTLS handshakes (gateway/dtls-pending-handshakes.ts): the limits, the
 * eviction rule for a ClientHello from the session's own address, forgetting a tunnel, and the
 * failure-log throttle. Pure: fake handshakes whose close() reports back as a channel's would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PendingHandshakes, FAIL_LOG_INTERVAL_MS, type PendingHandshake } from '../../src/gateway/dtls-pending-handshakes.js';

interface Fake extends PendingHandshake<string> {
  closed: string | null;
}

function table(perSession: number, total: number): { p: PendingHandshakes<string, Fake>; make: (tunnel: string, address: string, port: number) => Fake } {
  const p = new PendingHandshakes<string, Fake>({ perSession, total });
  const make = (tunnel: string, address: string, port: number): Fake => {
    const h: Fake = {
      key: `${address}:${port}`,
      tunnel,
      address,
      closed: null,
      // As a DtlsChannel does: closing it ends in the listener's close callback, which removes it.
      channel: { close: (why) => ((h.closed = why), p.remove(h)) },
    };
    return h;
  };
  return { p, make };
}

test('pending handshakes: per-session and total limits', () => {
  const { p, make } = table(2, 3);
  for (const [t, port] of [['A', 1], ['A', 2]] as const) {
    assert.equal(p.makeRoom(t, '192.0.2.9', '198.51.100.1'), true);
    p.add(make(t, '192.0.2.9', port));
  }
  assert.equal(p.makeRoom('A', '192.0.2.9', '198.51.100.1'), false, 'session A is full; not from its TLS address');
  assert.equal(p.makeRoom('A', '192.0.2.9', null), false, 'no TLS address known: refused');
  assert.equal(p.makeRoom('B', '192.0.2.7', null), true);
  p.add(make('B', '192.0.2.7', 5));
  assert.equal(p.size, 3);
  assert.equal(p.makeRoom('C', '192.0.2.8', '192.0.2.8'), false, 'the total is reached');
  assert.ok(p.has('192.0.2.9:1') && p.get('192.0.2.7:5')?.tunnel === 'B');
});

test('pending handshakes: a ClientHello from the session address evicts the oldest, another address first', () => {
  const { p, make } = table(3, 100);
  const tls = '198.51.100.1';
  const a = make('S', tls, 1);
  const b = make('S', '203.0.113.5', 2);
  const c = make('S', '203.0.113.6', 3);
  for (const h of [a, b, c]) p.add(h);
  assert.equal(p.makeRoom('S', tls, tls), true);
  assert.equal(b.closed, 'evicted by a handshake from the session address', 'the oldest from another address goes');
  assert.equal(a.closed, null);
  assert.equal(p.has(b.key), false);
  const d = make('S', tls, 4);
  p.add(d);
  assert.equal(p.makeRoom('S', tls, tls), true);
  assert.equal(c.closed !== null, true, 'then the next from another address');
  p.add(make('S', tls, 5));
  assert.equal(p.makeRoom('S', tls, tls), true);
  assert.equal(a.closed !== null, true, 'only the session address left: the oldest of all');
  assert.equal(p.size, 2);
});

test('pending handshakes: remove is exact; forgetting a tunnel closes only its handshakes', () => {
  const { p, make } = table(4, 100);
  const x1 = make('X', '192.0.2.1', 1);
  const x2 = make('X', '192.0.2.1', 2);
  const y1 = make('Y', '192.0.2.2', 1);
  for (const h of [x1, x2, y1]) p.add(h);
  // A newer handshake on the same address:port replaced the entry: removing the old one leaves it.
  const x1b = make('X', '192.0.2.1', 1);
  p.add(x1b);
  p.remove(x1);
  assert.equal(p.get(x1.key), x1b);
  p.forgetTunnel('X');
  assert.equal(x2.closed, 'tunnel closed');
  assert.equal(x1b.closed, 'tunnel closed');
  assert.equal(y1.closed, null);
  assert.deepEqual([...p.values()], [y1]);
  assert.equal(p.makeRoom('X', '192.0.2.1', null), true, 'the tunnel has no pending handshake left');
  p.remove(y1);
  p.remove(y1);
  assert.equal(p.size, 0);
});

test('pending handshakes: one "handshake failed" line per tunnel per interval, with the unlogged count', () => {
  const { p } = table(4, 100);
  const t0 = 1_000_000;
  assert.equal(p.failureToLog('T', t0), 0);
  assert.equal(p.failureToLog('T', t0 + 1), null);
  assert.equal(p.failureToLog('T', t0 + FAIL_LOG_INTERVAL_MS - 1), null);
  assert.equal(p.failureToLog('U', t0 + 2), 0, 'another tunnel has its own');
  assert.equal(p.failureToLog('T', t0 + FAIL_LOG_INTERVAL_MS), 2, 'the next line says how many were not logged');
  p.forgetTunnel('T');
  assert.equal(p.failureToLog('T', t0 + FAIL_LOG_INTERVAL_MS + 1), 0, 'forgotten with its tunnel');
});
