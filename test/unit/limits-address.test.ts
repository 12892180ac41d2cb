/**
 * Issue 9 §2: per-address limits key an IPv6 /64 as one address (an IPv4-mapped address as its
 * IPv4 address), and the ban guard's maps stay bounded, also against a user-name spray.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressKey } from '../../src/gateway/address-key.js';
import { BanGuard, type BanPolicy } from '../../src/gateway/ban-guard.js';
import { ConnectionLimiter } from '../../src/gateway/connection-limiter.js';

const policy: BanPolicy = { maxScore: 30, userMaxScore: 90, resetTime: 300, banTime: 300, points: { password: 10, cookie: 10, malformed: 10, connection: 0 }, allow: [] };

test('address key: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64', () => {
  assert.equal(addressKey('10.1.2.3'), '10.1.2.3');
  assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(addressKey('::ffff:a01:203'), '10.1.2.3');
  assert.equal(addressKey('2001:db8:1:2:aa::5'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8::1'), '2001:db8::/64');
  assert.equal(addressKey('2001:db8:0:0:1::1'), '2001:db8::/64');
  assert.equal(addressKey('1:0:0:5::9'), '1:0:0:5::/64');
  assert.equal(addressKey('::1'), '::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80::/64');
  assert.equal(addressKey('1::2:3.4.5.6'), '1::/64');
  // what `ctl bans` shows can be given back to `ctl unban`
  assert.equal(addressKey('2001:db8:1:2::/64'), '2001:db8:1:2::/64');
  assert.notEqual(addressKey('2001:db8:1:3::1'), addressKey('2001:db8:1:2::1'));
  assert.equal(addressKey('not an address'), 'not an address');
});

test('ban guard: one /64 is one address (ban, delay, unban); IPv4-mapped counts as IPv4', () => {
  const g = new BanGuard(policy);
  g.addPoints('2001:db8:1:2::1', 'password');
  g.addPoints('2001:db8:1:2::2', 'password');
  assert.equal(g.bannedFor('2001:db8:1:2::ffff'), 0);
  assert.ok(g.delayFor('2001:db8:1:2::77') > 0, 'the /64 is close to a ban');
  g.addPoints('2001:db8:1:2:1234:5678:9abc:def0', 'password');
  assert.ok(g.bannedFor('2001:db8:1:2::9') > 0, 'three addresses of one /64 made one ban');
  assert.equal(g.bannedFor('2001:db8:1:3::1'), 0, 'the next /64 is someone else');
  assert.deepEqual(g.list().map((b) => b.key), ['2001:db8:1:2::/64']);
  assert.equal(g.unban('2001:db8:1:2::5'), true);
  assert.equal(g.bannedFor('2001:db8:1:2::1'), 0);
  for (let i = 0; i < 3; i++) g.addPoints('::ffff:10.0.0.7', 'password');
  assert.ok(g.bannedFor('10.0.0.7') > 0);
});

test('connection rate: addresses of one /64 share one bucket', () => {
  const lim = new ConnectionLimiter({ rate: 1, burst: 3 }, () => 1000);
  assert.ok(lim.take('2001:db8::1'));
  assert.ok(lim.take('2001:db8::2'));
  assert.ok(lim.take('2001:db8::3'));
  assert.equal(lim.take('2001:db8::4'), false, 'the /64 spent its burst');
  assert.ok(lim.take('2001:db8:0:1::4'), 'another /64 has its own');
  assert.ok(lim.take('::ffff:10.0.0.1'));
  assert.equal(lim.size, 3);
});

test('ban guard: the per-user and per-address maps stay bounded, also when every key is banned', () => {
  let now = 1_000_000;
  const g = new BanGuard({ ...policy, userMaxScore: 10 }, () => undefined, () => now, 100);
  // A spray of 1,000 user names from 1,000 addresses, each banned at its first point.
  for (let i = 0; i < 1000; i++) g.addPoints(`10.${i >> 8}.${i & 255}.1`, 'password', `user${i}`);
  const t = g.tracked();
  assert.ok(t.user <= 100 && t.address <= 100, JSON.stringify(t));
  assert.ok(g.userLockedFor('user0') > 0, 'the first locks are kept (bans are not evicted)');
  // Once the locks expire, new names are tracked again.
  now += 301_000;
  g.sweep();
  g.addPoints('10.200.0.1', 'password', 'late');
  assert.ok(g.userLockedFor('late') > 0);
  assert.ok(g.tracked().user <= 100);
});
