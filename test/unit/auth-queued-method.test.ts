/**
 * The local method's checks go through the AuthQueue (a few scrypt checks at once, a bounded
 * queue, "busy" beyond it); a network backend is not queued, so a dead RADIUS server cannot hold
 * the slots local logins need.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthQueue } from '../../src/gateway/priv/auth-queue.js';
import { QUEUE_FULL, queuedMethod } from '../../src/gateway/auth/queued-method.js';
import type { MethodResult, PasswordMethod } from '../../src/gateway/auth/types.js';

const ctx = { remote: '192.0.2.1', group: 'g' };

test('queued method: at most `concurrency` checks run, `maxWaiting` wait, the rest are refused at once', async () => {
  let running = 0;
  let peak = 0;
  const releases: Array<() => void> = [];
  const slow: PasswordMethod = {
    name: 'local',
    authenticate: () =>
      new Promise<MethodResult>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        releases.push(() => {
          running--;
          resolve({ kind: 'accept' });
        });
      }),
  };
  const m = queuedMethod(slow, new AuthQueue(2, 3));
  const all = Array.from({ length: 7 }, () => m.authenticate('u', 'p', ctx));
  // the 6th and 7th find the queue full
  assert.deepEqual(await all[5], { kind: 'error', message: QUEUE_FULL });
  assert.deepEqual(await all[6], { kind: 'error', message: QUEUE_FULL });
  // Release the running checks one by one until all five queued ones have run.
  for (let released = 0; released < 5; ) {
    const r = releases.shift();
    if (r) {
      r();
      released++;
    }
    await new Promise((res) => setImmediate(res));
  }
  const done = await Promise.all(all.slice(0, 5));
  assert.ok(done.every((r) => r.kind === 'accept'));
  assert.equal(peak, 2);
});

test('queued method: a method that throws is an error result, and its slot is freed', async () => {
  const boom: PasswordMethod = { name: 'local', authenticate: () => Promise.reject(new Error('disk gone')) };
  const m = queuedMethod(boom, new AuthQueue(1, 0));
  assert.deepEqual(await m.authenticate('u', 'p', ctx), { kind: 'error', message: 'disk gone' });
  await new Promise((res) => setImmediate(res)); // the queue frees the slot after the job settles
  assert.deepEqual(await m.authenticate('u', 'p', ctx), { kind: 'error', message: 'disk gone' }, 'the slot came back');
});
