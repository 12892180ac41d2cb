/**
 * workers > 1: the privileged process counts connection rate and unauthenticated connections
 * once for the whole gateway (priv/conn-admission.ts). The same rules as one network process
 * (gatekeeper.ts), whatever worker a connection went to; releases only by the worker that holds
 * the connection; every map bounded in size and time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionAdmission, LOST_REPORT_GRACE_MS, type AdmissionLimits } from '../../src/gateway/priv/conn-admission.js';
import { parseNetworkMessage } from '../../src/gateway/priv/messages.js';
import { seeded } from '../helpers/seed.js';

const limits = (o: Partial<AdmissionLimits> = {}): AdmissionLimits => ({ rate: 0, burst: 100, maxPerAddress: 0, maxTotal: 0, deadlineMs: 10_000, ...o });

test('rate: one bucket per address for every worker together (burst, then refill)', () => {
  let now = 1_000_000;
  const a = new ConnectionAdmission(limits({ rate: 2, burst: 5 }), () => false, () => now);
  const ids: number[] = [];
  // alternating workers: the burst is the address's, not each worker's
  for (let i = 0; i < 5; i++) {
    const r = a.admit('192.0.2.7', i % 2);
    assert.ok('id' in r, JSON.stringify(r));
    ids.push(r.id);
  }
  assert.deepEqual(a.admit('192.0.2.7', 1), { why: 'rate-limit' });
  assert.deepEqual(a.admit('192.0.2.7', 0), { why: 'rate-limit' });
  // another address has its own bucket
  assert.ok('id' in a.admit('192.0.2.8', 1));
  now += 500; // one token at 2/s
  assert.ok('id' in a.admit('192.0.2.7', 1));
  assert.deepEqual(a.admit('192.0.2.7', 0), { why: 'rate-limit' });
  assert.equal(new Set(ids).size, 5, 'ids are distinct');
});

test('unauthenticated caps: total first, then per address; released by the holding worker only', () => {
  const a = new ConnectionAdmission(limits({ maxPerAddress: 2, maxTotal: 3 }), () => false);
  const x1 = a.admit('198.51.100.1', 0);
  const x2 = a.admit('198.51.100.1', 1);
  assert.ok('id' in x1 && 'id' in x2);
  assert.deepEqual(a.admit('198.51.100.1', 0), { why: 'unauth-per-address' });
  const y = a.admit('198.51.100.2', 1);
  assert.ok('id' in y);
  assert.deepEqual(a.admit('198.51.100.3', 0), { why: 'unauth-total' });
  // worker 0 cannot release worker 1's connection
  a.done([x2.id], 0);
  assert.equal(a.count('198.51.100.1'), 2);
  a.done([x2.id], 1);
  assert.equal(a.count('198.51.100.1'), 1);
  assert.ok('id' in a.admit('198.51.100.1', 0));
  // a second report of the same id changes nothing
  a.done([x2.id, x2.id], 1);
  assert.equal(a.count(), 3);
});

test('allow-listed addresses skip the rate and the per-address cap, not the total', () => {
  const a = new ConnectionAdmission(limits({ rate: 1, burst: 1, maxPerAddress: 1, maxTotal: 4 }), (addr) => addr === '203.0.113.9');
  for (let i = 0; i < 4; i++) assert.ok('id' in a.admit('203.0.113.9', i % 2));
  assert.deepEqual(a.admit('203.0.113.9', 0), { why: 'unauth-total' });
});

test('an IPv6 /64 is one address (address-key.ts)', () => {
  const a = new ConnectionAdmission(limits({ maxPerAddress: 1 }), () => false);
  assert.ok('id' in a.admit('2001:db8:1:2::1', 0));
  assert.deepEqual(a.admit('2001:db8:1:2::ffff', 1), { why: 'unauth-per-address' });
});

test('a worker that dies releases its connections; a report that never comes expires', () => {
  let now = 0;
  const a = new ConnectionAdmission(limits({ maxPerAddress: 10, deadlineMs: 1000 }), () => false, () => now);
  for (let i = 0; i < 6; i++) a.admit('192.0.2.1', i % 3);
  a.workerGone(1);
  assert.equal(a.count(), 4);
  now += 1000 + LOST_REPORT_GRACE_MS - 1;
  assert.equal(a.sweep(), 0);
  now += 1;
  assert.equal(a.sweep(), 4);
  assert.equal(a.count(), 0);
  assert.equal(a.count('192.0.2.1'), 0);
  assert.equal(a.lost, 4);
});

test('seeded: counts match a model under random admits, reports, deaths and reloads', () => {
  const rnd = seeded('conn-admission model');
  const a = new ConnectionAdmission(limits({ maxPerAddress: 3, maxTotal: 8 }), () => false);
  const model = new Map<number, { addr: string; worker: number }>();
  const addrs = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '2001:db8::1', '2001:db8::2'];
  const key = (s: string): string => (s.startsWith('2001') ? '2001:db8::/64' : s);
  for (let step = 0; step < 5000; step++) {
    const op = rnd.int(10);
    if (op < 5) {
      const addr = addrs[rnd.int(addrs.length)]!;
      const worker = rnd.int(3);
      const perKey = [...model.values()].filter((e) => key(e.addr) === key(addr)).length;
      const want = model.size >= 8 ? 'unauth-total' : perKey >= 3 ? 'unauth-per-address' : null;
      const r = a.admit(addr, worker);
      if (want) assert.deepEqual(r, { why: want }, `step ${step}`);
      else {
        assert.ok('id' in r, `step ${step}: ${JSON.stringify(r)}`);
        assert.ok(!model.has(r.id));
        model.set(r.id, { addr, worker });
      }
    } else if (op < 9 && model.size) {
      const ids = [...model.keys()];
      const id = ids[rnd.int(ids.length)]!;
      const worker = rnd.int(3);
      a.done([id], worker);
      if (model.get(id)!.worker === worker) model.delete(id);
    } else if (op === 9) {
      const worker = rnd.int(3);
      a.workerGone(worker);
      for (const [id, e] of model) if (e.worker === worker) model.delete(id);
      a.setLimits(limits({ maxPerAddress: 3, maxTotal: 8 }));
    }
    assert.equal(a.count(), model.size, `step ${step}`);
  }
});

test('conn-done from a worker is checked: bounded list of ids', () => {
  assert.deepEqual(parseNetworkMessage({ t: 'conn-done', ids: [1, 2, 3] }), { t: 'conn-done', ids: [1, 2, 3] });
  assert.throws(() => parseNetworkMessage({ t: 'conn-done', ids: [0] }), /ids/);
  assert.throws(() => parseNetworkMessage({ t: 'conn-done', ids: ['1'] }), /ids/);
  assert.throws(() => parseNetworkMessage({ t: 'conn-done', ids: new Array(5000).fill(1) }), /at most 2048/);
  assert.throws(() => parseNetworkMessage({ t: 'conn-done', ids: [1], extra: 1 }), /unexpected key/);
});
