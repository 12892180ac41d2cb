import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpPool } from '../../src/gateway/ip-pool.js';
import { UserStore } from '../../src/gateway/user-store.js';
import { formatIpv4, parseIpv4, parseIpv4Cidr, maskToPrefix, formatCidrDottedMask, ipv4Destination } from '../../src/protocol/ipv4.js';
import { dtlsDataMtu, tlsDataMtu, clientRequestedMtu, negotiateLinkMtu } from '../../src/protocol/mtu.js';

test('ipv4 helpers', () => {
  assert.equal(parseIpv4('192.168.77.1'), 0xc0a84d01);
  assert.equal(parseIpv4('256.1.1.1'), null);
  assert.equal(formatIpv4(0xc0a84d01), '192.168.77.1');
  assert.deepEqual(parseIpv4Cidr('10.0.0.0/255.0.0.0'), { address: 0x0a000000, prefix: 8 });
  assert.equal(parseIpv4Cidr('10.0.0.0/255.0.255.0'), null);
  assert.equal(maskToPrefix(0xffffff00), 24);
  assert.equal(formatCidrDottedMask(parseIpv4Cidr('192.168.77.9/24')!), '192.168.77.0/255.255.255.0');
  const pkt = Buffer.alloc(20);
  pkt[0] = 0x45;
  pkt.writeUInt32BE(0x0a000001, 16);
  assert.equal(ipv4Destination(pkt, 0, 20), 0x0a000001);
  assert.equal(ipv4Destination(pkt, 0, 19), -1);
});

test('MTU arithmetic (PROTOCOL.md §6.9)', () => {
  assert.equal(clientRequestedMtu(1500), 1390, 'openconnect asks 1390 on a 1500 path');
  assert.equal(tlsDataMtu(1500, { kind: 'aead-explicit-nonce' }), 1500 - 20 - 20 - 5 - 24 - 8);
  assert.equal(dtlsDataMtu(1500, { kind: 'aead-explicit-nonce' }), 1500 - 20 - 8 - 13 - 24 - 1);
  // CBC: IV 16, then whole blocks holding payload + MAC 20 + at least one pad byte
  const cbc = dtlsDataMtu(1500, { kind: 'cbc-hmac', block: 16, mac: 20 });
  assert.ok((cbc + 1 + 20 + 1) % 16 <= 16 && 20 + 8 + 13 + 16 + Math.ceil((cbc + 1 + 20 + 1) / 16) * 16 <= 1500);
  assert.equal(negotiateLinkMtu(1500, 1400), 1400);
  assert.equal(negotiateLinkMtu(1500, 500), 1500, 'implausible client values are ignored');
});

test('pool: stable lease per key, skips the gateway address, refuses when full', () => {
  const pool = new IpPool(parseIpv4Cidr('10.9.0.1/29')!);
  assert.equal(pool.size, 5);
  const a = pool.lease('s1')!;
  assert.notEqual(a, parseIpv4('10.9.0.1'));
  assert.equal(pool.lease('s1'), a, 'same key, same address');
  const got = new Set([a]);
  for (let i = 2; i <= 5; i++) got.add(pool.lease('s' + i)!);
  assert.equal(got.size, 5);
  assert.equal(pool.lease('s6'), null);
  pool.release('s3');
  assert.notEqual(pool.lease('s6'), null);
  pool.release('s6');
  assert.equal(pool.lease('s7', parseIpv4('10.9.0.1')!) === parseIpv4('10.9.0.1'), false, 'hint of the gateway address is not honoured');
});

test('user store: scrypt hashes, atomic file with private mode, groups', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-users-'));
  try {
    const s = UserStore.inState(dir);
    await s.set('alice', 'secret', ['Employees']);
    assert.match(s.get('alice')!.hash, /^scrypt\$16384\$8\$1\$/);
    assert.equal(statSync(s.file).mode & 0o777, 0o600);
    const again = UserStore.inState(dir);
    assert.ok(await again.verify('alice', 'secret'));
    assert.equal(await again.verify('alice', 'wrong'), null);
    assert.equal(await again.verify('nobody', 'secret'), null);
    assert.deepEqual(again.get('alice')!.groups, ['Employees']);
    await assert.rejects(() => again.set('bad name', 'x'));
    // the verified-password cache: a repeat is fast, a wrong password still fails, a changed
    // password (another stored hash) is not served from the cache
    again.cacheSeconds = 60;
    assert.ok(await again.verify('alice', 'secret'));
    // Not a timing check: scrypt runs on the thread pool, so an uncached answer needs at least one
    // turn of the event loop; a cached one settles in microtasks, before a setImmediate callback.
    const order: string[] = [];
    setImmediate(() => order.push('event loop turned'));
    assert.ok(await again.verify('alice', 'secret'));
    order.push('verified');
    assert.deepEqual(order, ['verified'], 'cached verification should skip scrypt');
    const uncached: string[] = [];
    setImmediate(() => uncached.push('event loop turned'));
    assert.equal(await again.verify('alice', 'wrong'), null);
    uncached.push('verified');
    assert.deepEqual(uncached, ['event loop turned', 'verified'], 'the check above can tell the two apart');
    await again.set('alice', 'changed');
    assert.equal(await again.verify('alice', 'secret'), null);
    assert.ok(await again.verify('alice', 'changed'));
    assert.ok(again.delete('alice'));
    assert.equal(again.list().length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
