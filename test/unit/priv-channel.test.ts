/**
 * The privileged channel (priv/channel.ts): a full pipe buffer is back-pressure, not a dead peer.
 * A burst of thousands of logins once made send() report false (write()'s answer), and Requests
 * failed those logins as "the privileged process is gone".
 */
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { Channel, Requests } from '../../src/gateway/priv/channel.js';

test('send() is true while the channel is open, whatever the write buffer holds; false once closed', async () => {
  const written: Buffer[] = [];
  // A peer that never drains: every write stays buffered (write() answers false at once).
  const sock = new Duplex({ writableHighWaterMark: 1, read() {}, write(chunk: Buffer, _e, _cb) { written.push(chunk); } });
  const ch = new Channel<{ t: string }, { t: string; id: number }>(sock, 1024, (v) => v as { t: string }, () => undefined, () => undefined);
  const requests = new Requests<{ t: string; id: number }>();
  const asks = [1, 2, 3].map(() => requests.ask((id) => ch.send({ t: 'state-put', id })));
  // Nothing rejected: answers may come later.
  for (const id of [1, 2, 3]) assert.ok(requests.answer({ t: 'state-result', id }));
  assert.deepEqual((await Promise.all(asks)).map((a) => a.id), [1, 2, 3]);
  ch.close(null);
  assert.equal(ch.send({ t: 'x', id: 9 }), false);
  await assert.rejects(requests.ask((id) => ch.send({ t: 'x', id })), /gone/);
});
