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
import { RunBufferPool } from '../../src/tunnel/run-buffer-pool.js';
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

test('run buffers come from the pool and go back only when written: a buffer being written is never reused', () => {
  const rnd = seeded('cstp-send-queue-pool');
  const pool = new RunBufferPool(4);
  const q = new CstpSendQueue(RF, { txDrops: 0 }, pool);
  const sent: Buffer[] = [];
  const got: Buffer[] = [];
  const made = new Set<Buffer>();
  const take = pool.take.bind(pool);
  pool.take = (size: number) => {
    const b = take(size);
    made.add(b);
    return b;
  };
  let writing: Buffer | null = null;
  let writingFrames: Buffer[] = [];
  let runs = 0;
  for (let round = 0; round < 3000; round++) {
    const len = rnd.int(3) === 0 ? 1 + rnd.int(RF - 8) : RF - 8;
    const p = Buffer.alloc(len, rnd.int(256));
    q.pushData(p, 0, len);
    sent.push(p);
    // As the channel does: a write completes now and then, and the next one starts at once.
    if (writing !== null && rnd.int(2) === 0) {
      assert.deepEqual(framesOf(writing), writingFrames, 'a buffer was changed while the socket wrote it');
      got.push(...writingFrames);
      q.written();
      writing = null;
    }
    if (writing === null) {
      writing = q.take();
      // What the socket is writing, as taken: it must still be that when the write completes.
      writingFrames = writing ? framesOf(writing) : [];
      if (writingFrames.length > 1) runs++;
    }
  }
  if (writing) {
    got.push(...framesOf(writing));
    q.written();
  }
  for (let b = q.take(); b; b = q.take()) {
    got.push(...framesOf(b));
    q.written();
  }
  assert.equal(got.length, sent.length);
  assert.ok(got.every((g, i) => g.equals(sent[i]!)), 'frames changed or reordered');
  // Without the pool every run would be a new buffer.
  assert.ok(made.size * 10 < runs, `run buffers are reused (${made.size} made for ${runs} runs)`);
  assert.ok(pool.held >= 1);
});

test('clear() gives the runs not taken back to the pool; the one being written waits for written()', () => {
  const pool = new RunBufferPool();
  const q = new CstpSendQueue(RF, { txDrops: 0 }, pool);
  for (let i = 0; i < MAX_RUN * 2 + 2; i++) q.pushData(payload(RF - 8, i), 0, RF - 8);
  assert.ok(q.take());
  q.clear();
  assert.equal(pool.held, 2, 'the two runs still queued are back');
  q.written();
  assert.equal(pool.held, 3, 'the written one too');
});

test('RunBufferPool: reuse by size; bounded in buffers and in sizes', () => {
  const pool = new RunBufferPool(2);
  const a = pool.take(1000);
  assert.equal(a.length, 1000);
  pool.give(a);
  assert.equal(pool.take(1000), a, 'reused');
  assert.notEqual(pool.take(1000), a, 'taken once only');
  pool.give(a);
  assert.notEqual(pool.take(2000), a, 'another size is another buffer');
  pool.give(Buffer.alloc(10));
  pool.give(Buffer.alloc(20));
  assert.equal(pool.held, 2, 'at most maxFree free buffers');
  const many = new RunBufferPool(100);
  for (let size = 1; size <= 20; size++) many.give(Buffer.alloc(size));
  assert.ok(many.held <= 8, 'a handful of sizes, not one per odd size');
});
