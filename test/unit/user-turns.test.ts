/** One login per user at a time in one process (user-turns.ts): in order, per user, released once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserTurns } from '../../src/gateway/user-turns.js';

test('turns per user, in order; other users do not wait; the map empties', async () => {
  const turns = new UserTurns();
  const log: string[] = [];
  const a1 = await turns.take('alice');
  const a2p = turns.take('alice').then((end) => (log.push('a2'), end));
  const a3p = turns.take('alice').then((end) => (log.push('a3'), end));
  const b1 = await turns.take('bob');
  log.push('b1');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['b1'], 'alice waits, bob does not');
  a1();
  a1(); // a second call changes nothing
  const a2 = await a2p;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['b1', 'a2']);
  a2();
  (await a3p)();
  b1();
  assert.equal(turns.size, 0);
});
