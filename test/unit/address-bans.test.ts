/**
 * workers > 1: the privileged process refuses a banned address at accept (priv/address-bans.ts),
 * from the bans it sees go by: by address key, until the ban ends, bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressBans } from '../../src/gateway/priv/address-bans.js';

test('bans by address key until they end; unban lifts; user locks are ignored', () => {
  let now = 1000;
  const b = new AddressBans(10, () => now);
  b.add({ kind: 'address', key: '192.0.2.1', until: 5000 });
  b.add({ kind: 'address', key: '2001:db8:1:2::1', until: 5000 });
  b.add({ kind: 'user', key: 'alice', until: 5000 });
  b.add({ kind: 'address', key: '192.0.2.2', until: 1000 }); // over already
  assert.ok(b.banned('192.0.2.1'));
  assert.ok(b.banned('::ffff:192.0.2.1'), 'IPv4-mapped is the same address');
  assert.ok(b.banned('2001:db8:1:2::ffff'), 'one /64 is one address');
  assert.ok(!b.banned('192.0.2.2'));
  assert.ok(!b.banned('alice'));
  assert.equal(b.size, 2);
  b.remove('address', '2001:db8:1:2::1');
  assert.ok(!b.banned('2001:db8:1:2::5'));
  // a longer ban for the same key extends, a shorter one does not shorten
  b.add({ kind: 'address', key: '192.0.2.1', until: 9000 });
  b.add({ kind: 'address', key: '192.0.2.1', until: 2000 });
  now = 8999;
  assert.ok(b.banned('192.0.2.1'));
  now = 9000;
  assert.ok(!b.banned('192.0.2.1'));
  assert.equal(b.size, 0, 'an expired ban is dropped when seen');
});

test('bounded: a full map of live bans keeps no more; expired ones make room', () => {
  let now = 0;
  const b = new AddressBans(3, () => now);
  for (let i = 1; i <= 3; i++) b.add({ kind: 'address', key: `198.51.100.${i}`, until: i * 100 });
  b.add({ kind: 'address', key: '198.51.100.9', until: 1000 });
  assert.equal(b.size, 3);
  assert.ok(!b.banned('198.51.100.9'));
  now = 150;
  b.add({ kind: 'address', key: '198.51.100.9', until: 1000 });
  assert.ok(b.banned('198.51.100.9'));
  assert.ok(b.size <= 3);
});
