/**
 * workers > 1: one login of a user at a time counts the user's sessions (priv/user-locks.ts):
 * first come first served per user, other users never wait, every lock bounded in time, the
 * waiting requests bounded in number, a dead worker's locks released.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserLocks } from '../../src/gateway/priv/user-locks.js';
import { parseNetworkMessage } from '../../src/gateway/priv/messages.js';
import { seeded } from '../helpers/seed.js';

test('per user, first come first served; other users are not held up', () => {
  const l = new UserLocks({ maxHoldMs: 60_000, maxWaiting: 10 });
  const got: string[] = [];
  assert.ok(l.lock('alice', 0, 1, () => got.push('a0')));
  assert.ok(l.lock('alice', 1, 1, () => got.push('a1')));
  assert.ok(l.lock('alice', 0, 2, () => got.push('a0b')));
  assert.ok(l.lock('bob', 1, 2, () => got.push('b1')));
  assert.deepEqual(got, ['a0', 'b1']);
  // only the holder's own unlock passes the lock on (another worker's id 1, an unknown id)
  assert.equal(l.unlock('alice', 2, 1), false);
  assert.equal(l.unlock('alice', 0, 99), false);
  assert.deepEqual(got, ['a0', 'b1']);
  l.unlock('alice', 0, 1);
  assert.deepEqual(got, ['a0', 'b1', 'a1']);
  l.unlock('alice', 1, 1);
  l.unlock('bob', 1, 2);
  assert.deepEqual(got, ['a0', 'b1', 'a1', 'a0b']);
  l.unlock('alice', 0, 2);
  assert.equal(l.size, 0, 'no user left in the map');
});

test('bounded: waiting requests beyond maxWaiting are refused; a withdrawn one frees its place', () => {
  const l = new UserLocks({ maxHoldMs: 60_000, maxWaiting: 2 });
  assert.ok(l.lock('u', 0, 1, () => undefined));
  assert.ok(l.lock('u', 0, 2, () => undefined));
  assert.ok(l.lock('v', 0, 3, () => undefined), 'a holder does not wait');
  assert.ok(l.lock('v', 1, 4, () => undefined));
  assert.equal(l.lock('u', 1, 5, () => undefined), false);
  assert.equal(l.unlock('u', 0, 2), true, 'withdrawn');
  assert.ok(l.lock('u', 1, 5, () => undefined));
  l.unlock('u', 0, 1);
  l.unlock('u', 1, 5);
  l.unlock('v', 0, 3);
  l.unlock('v', 1, 4);
  assert.equal(l.size, 0);
});

test('a lock held past maxHoldMs passes on; the late unlock changes nothing', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const expired: string[] = [];
  const l = new UserLocks({ maxHoldMs: 1000, maxWaiting: 10 }, (user, worker) => expired.push(`${user}/${worker}`));
  const got: number[] = [];
  l.lock('u', 0, 1, () => got.push(1));
  l.lock('u', 1, 2, () => got.push(2));
  l.lock('u', 1, 3, () => got.push(3));
  t.mock.timers.tick(999);
  assert.deepEqual(got, [1]);
  t.mock.timers.tick(1);
  assert.deepEqual(got, [1, 2]);
  assert.deepEqual(expired, ['u/0']);
  l.unlock('u', 0, 1); // late: not the holder any more
  assert.deepEqual(got, [1, 2]);
  l.unlock('u', 1, 2);
  assert.deepEqual(got, [1, 2, 3]);
  l.unlock('u', 1, 3);
  assert.equal(l.size, 0);
});

test('a worker that exits gives up its locks and its requests', () => {
  const l = new UserLocks({ maxHoldMs: 60_000, maxWaiting: 10 });
  const got: string[] = [];
  l.lock('u', 1, 1, () => got.push('u1'));
  l.lock('u', 1, 2, () => got.push('u1b'));
  l.lock('u', 0, 3, () => got.push('u0'));
  l.lock('w', 1, 4, () => got.push('w1'));
  l.workerGone(1);
  assert.deepEqual(got, ['u1', 'w1', 'u0']);
  l.unlock('u', 0, 3);
  assert.equal(l.size, 0);
});

test('seeded: never two holders of one user; every request granted once; all released in the end', () => {
  const rnd = seeded('user-locks model');
  const l = new UserLocks({ maxHoldMs: 60_000, maxWaiting: 1000 });
  const holders = new Map<string, string>();
  const granted = new Set<string>();
  const asked: Array<{ user: string; worker: number; id: number }> = [];
  let nextId = 1;
  for (let step = 0; step < 3000; step++) {
    const op = rnd.int(3);
    if (op === 0 || asked.length === 0) {
      const r = { user: `u${rnd.int(4)}`, worker: rnd.int(3), id: nextId++ };
      const key = `${r.worker}/${r.id}`;
      asked.push(r);
      assert.ok(
        l.lock(r.user, r.worker, r.id, () => {
          assert.ok(!holders.has(r.user), `step ${step}: two holders of ${r.user}`);
          assert.ok(!granted.has(key), 'granted twice');
          granted.add(key);
          holders.set(r.user, key);
        }),
      );
    } else {
      // the holder of a random user ends its login
      const held = [...holders.entries()];
      if (!held.length) continue;
      const [user, key] = held[rnd.int(held.length)]!;
      holders.delete(user);
      const [w, id] = key.split('/').map(Number);
      l.unlock(user, w!, id!);
    }
  }
  for (let guard = 0; holders.size && guard < 10_000; guard++) {
    const [user, key] = [...holders.entries()][0]!;
    holders.delete(user);
    const [w, id] = key.split('/').map(Number);
    l.unlock(user, w!, id!);
  }
  assert.equal(granted.size, asked.length, 'every request was granted in the end');
  assert.equal(l.size, 0);
});

test('user-lock / user-unlock from a worker are checked', () => {
  assert.deepEqual(parseNetworkMessage({ t: 'user-lock', id: 3, user: 'alice' }), { t: 'user-lock', id: 3, user: 'alice' });
  assert.deepEqual(parseNetworkMessage({ t: 'user-unlock', id: 3, user: 'alice' }), { t: 'user-unlock', id: 3, user: 'alice' });
  assert.throws(() => parseNetworkMessage({ t: 'user-lock', id: 3, user: 'x'.repeat(300) }), /user longer/);
  assert.throws(() => parseNetworkMessage({ t: 'user-lock', id: -1, user: 'a' }), /id/);
  assert.throws(() => parseNetworkMessage({ t: 'user-lock', id: 1 }), /user must be a string/);
});
