/**
 * CstpSendQueue (tunnel/cstp-send-queue.ts) without a socket: what each take() hands the socket.
 * A run is full-size frames, at most one shorter frame at its end, MAX_RUN frames at most; the
 * frames come out byte for byte and in order; after the first run (pinned) a frame larger than
 * the run size is dropped and counted. Seeded random traffic checks the same rules at scale.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CstpDecoder } from '../../src/protocol/cstp.js';
import { CstpSendQueue, MAX_RUN } from '../../src/tunnel/cstp-send-queue.js';
import { seeded } from '../helpers/seed.js';

const RF = 1431;
const payload = (len: number, fill: number): Buffer => Buffer.alloc(len, fill & 0xff);

/** Frame sizes of one taken buffer, by decoding it. */
function framesOf(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const d = new CstpDecoder((_t, b, s, e) => out.push(Buffer.from(b.subarray(s, e))), 65536);
  assert.equal(d.push(buf), null);
  return out;
}

test('full frames and one shorter tail are one entry; anything after starts the next', () => {
  const drops = { txDrops: 0 };
  const q = new CstpSendQueue(RF, drops);
  const full = RF - 8;
  for (const len of [full, full, full, 100, full, 50]) q.pushData(payload(len, len), 0, len);
  assert.equal(q.frames, 6);
  assert.equal(q.pinned, false);
  const first = q.take()!;
  assert.equal(q.pinned, true, 'the first run pins the record size');
  assert.deepEqual(framesOf(first).map((f) => f.length), [full, full, full, 100]);
  assert.deepEqual(framesOf(q.take()!).map((f) => f.length), [full, 50]);
  assert.equal(q.take(), null);
  assert.equal(q.frames, 0);
});

test('a run holds MAX_RUN frames at most; after pinning an oversized frame is dropped and counted', () => {
  const drops = { txDrops: 0 };
  const q = new CstpSendQueue(RF, drops);
  for (let i = 0; i < MAX_RUN + 3; i++) q.pushData(payload(RF - 8, i), 0, RF - 8);
  assert.equal(framesOf(q.take()!).length, MAX_RUN);
  assert.equal(framesOf(q.take()!).length, 3);
  q.pushData(payload(RF + 100, 1), 0, RF + 100);
  q.pushData(payload(10, 2), 0, 10);
  assert.deepEqual(framesOf(q.take()!).map((f) => f.length), [10]);
  assert.equal(drops.txDrops, 1);
});

test('runFrame 0: one frame per entry, never pinned', () => {
  const q = new CstpSendQueue(0, { txDrops: 0 });
  for (let i = 0; i < 5; i++) q.pushData(payload(RF - 8, i), 0, RF - 8);
  for (let i = 0; i < 5; i++) assert.equal(framesOf(q.take()!).length, 1);
  assert.equal(q.pinned, false);
});

test('seeded traffic: every frame comes out once, in order, byte for byte, within the run rules', () => {
  const rnd = seeded('cstp-send-queue');
  const q = new CstpSendQueue(RF, { txDrops: 0 });
  const sent: Buffer[] = [];
  const got: Buffer[] = [];
  for (let round = 0; round < 2000; round++) {
    const r = rnd.int(10);
    const len = r < 5 ? RF - 8 : 1 + rnd.int(RF - 8);
    const p = Buffer.alloc(len);
    for (let i = 0; i < len; i += 97) p[i] = rnd.int(256);
    // A control frame now and then (prepared elsewhere, pushed whole).
    if (rnd.int(20) === 0) {
      const ctl = Buffer.from([0x53, 0x54, 0x46, 0x01, 0, 0, 0x03, 0]);
      q.push(ctl);
      sent.push(Buffer.alloc(0));
    }
    q.pushData(p, 0, len);
    sent.push(p);
    if (rnd.int(4) === 0) {
      for (let b = q.take(); b; b = q.take()) {
        const fs = framesOf(b);
        assert.ok(fs.length <= MAX_RUN);
        // Only the last frame of an entry may be shorter than the run size.
        for (const f of fs.slice(0, -1)) assert.equal(f.length + 8, RF);
        got.push(...fs);
      }
    }
  }
  for (let b = q.take(); b; b = q.take()) got.push(...framesOf(b));
  assert.equal(got.length, sent.length);
  assert.ok(got.every((g, i) => g.equals(sent[i]!)), 'frames changed or reordered');
});
