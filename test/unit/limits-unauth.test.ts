/**
 * Issue 9 §2, slow clients: connections that are not a tunnel yet live under an absolute
 * deadline from accept (traffic does not extend it) and are capped per address (an IPv6 /64
 * being one) and in total. Fake sockets and mocked timers: the mechanism only.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { UnauthConnections } from '../../src/gateway/unauth-connections.js';

let nextPort = 40000;

class FakeSocket extends EventEmitter {
  destroyed = false;
  readonly remotePort = nextPort++;
  constructor(readonly remoteAddress: string) {
    super();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

function setup(t: TestContext, o: { maxPerAddress?: number; maxTotal?: number } = {}): UnauthConnections {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  return new UnauthConnections({ deadlineMs: 60_000, maxPerAddress: o.maxPerAddress ?? 16, maxTotal: o.maxTotal ?? 100 });
}

test('deadline: counted from accept, not reset by traffic; a promoted connection has none', (t) => {
  const u = setup(t);
  const slow = new FakeSocket('10.0.0.1');
  const good = new FakeSocket('10.0.0.2');
  assert.equal(u.admit(slow), null);
  assert.equal(u.admit(good), null);
  for (let s = 0; s < 59; s++) {
    // a byte a second: the deadline does not move (the tracker does not even look at data)
    slow.emit('data', Buffer.from('G'));
    t.mock.timers.tick(1000);
  }
  assert.equal(slow.destroyed, false);
  u.promote(good);
  t.mock.timers.tick(1000);
  assert.equal(slow.destroyed, true, 'closed at the deadline');
  assert.equal(u.expired, 1);
  assert.equal(good.destroyed, false, 'a tunnel is not under the auth deadline');
  assert.equal(u.count(), 0);
});

test('per-address cap: the 17th unauthenticated connection of an address is refused, others are not', (t) => {
  const u = setup(t);
  const mine = Array.from({ length: 16 }, () => new FakeSocket('10.0.0.1'));
  for (const s of mine) assert.equal(u.admit(s), null);
  assert.equal(u.admit(new FakeSocket('10.0.0.1')), 'unauth-per-address');
  assert.equal(u.admit(new FakeSocket('::ffff:10.0.0.1')), 'unauth-per-address', 'IPv4-mapped is the same address');
  assert.equal(u.admit(new FakeSocket('10.0.0.2')), null, 'another address is not affected');
  // one closes, one becomes a tunnel: two places free up
  mine[0]!.destroy();
  u.promote(mine[1]!);
  assert.equal(u.admit(new FakeSocket('10.0.0.1')), null);
  assert.equal(u.admit(new FakeSocket('10.0.0.1')), null);
  assert.equal(u.admit(new FakeSocket('10.0.0.1')), 'unauth-per-address');
  assert.equal(u.admit(new FakeSocket('10.0.0.1'), true), null, 'allow-listed addresses are exempt');
  assert.equal(u.count('10.0.0.1'), 17);
});

test('per-address cap: an IPv6 /64 is one address', (t) => {
  const u = setup(t, { maxPerAddress: 4 });
  for (let i = 1; i <= 4; i++) assert.equal(u.admit(new FakeSocket(`2001:db8:5:6::${i.toString(16)}`)), null);
  assert.equal(u.admit(new FakeSocket('2001:db8:5:6:ffff::1')), 'unauth-per-address');
  assert.equal(u.admit(new FakeSocket('2001:db8:5:7::1')), null);
});

test('total cap, and a reload changes the caps at once', (t) => {
  const u = setup(t, { maxTotal: 3 });
  for (let i = 1; i <= 3; i++) assert.equal(u.admit(new FakeSocket(`10.0.1.${i}`)), null);
  assert.equal(u.admit(new FakeSocket('10.0.1.9')), 'unauth-total');
  u.setOptions({ deadlineMs: 60_000, maxPerAddress: 16, maxTotal: 0 });
  assert.equal(u.admit(new FakeSocket('10.0.1.9')), null, '0 = no cap');
});

test('a late close of a promoted connection does not release a new one on the same address and port', (t) => {
  const u = setup(t, { maxPerAddress: 1 });
  const old = new FakeSocket('10.0.0.1');
  assert.equal(u.admit(old), null);
  u.promote(old);
  const again = Object.assign(new FakeSocket('10.0.0.1'), {});
  Object.defineProperty(again, 'remotePort', { value: old.remotePort });
  assert.equal(u.admit(again), null);
  old.destroy();
  assert.equal(u.count('10.0.0.1'), 1, 'the new connection still counts');
  assert.equal(u.admit(new FakeSocket('10.0.0.1')), 'unauth-per-address');
  t.mock.timers.tick(60_000);
  assert.equal(again.destroyed, true, 'and still has its deadline');
});
