/**
 * TunWriter (src/client/tun-writer.ts), the client's downloads into its TUN, on a fake TUN:
 * packets of a DTLS receive batch are written with one writeBatch at its end; CSTP records are
 * copied and written together one event-loop turn later when the TUN merges (gro), at once when
 * it does not; every packet reaches the TUN exactly once and in arrival order, whatever the mix
 * (random sequences from the logged test seed); refused writes are counted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { TunWriter } from '../../src/tunnel/tun-writer.js';
import { seeded } from '../helpers/seed.js';
import { FakeTun } from './fake-tun.js';

class CountingTun extends FakeTun {
  batches: number[] = [];
  singles = 0;
  override writeBatch(slab: Buffer, offsets: Uint32Array, lens: Uint32Array, count: number): number {
    this.batches.push(count);
    let ok = 0;
    for (let i = 0; i < count; i++) if (super.write(slab, offsets[i]!, lens[i]!)) ok++;
    return ok;
  }
  override write(packet: Buffer, offset = 0, length = packet.length - offset): boolean {
    this.singles++;
    return super.write(packet, offset, length);
  }
}

function packet(id: number, len = 60): Buffer {
  const p = Buffer.alloc(len, id & 0xff);
  p.writeUInt32BE(id, 0);
  return p;
}

const ids = (tun: FakeTun): number[] => tun.written.map((p) => p.readUInt32BE(0));

test('TunWriter: a receive batch is written with one writeBatch at its end', () => {
  const tun = new CountingTun();
  const w = new TunWriter(tun);
  const slab = Buffer.alloc(4096);
  w.beginBatch(slab);
  for (let i = 0; i < 5; i++) {
    packet(i).copy(slab, i * 100);
    w.packet(slab, i * 100, i * 100 + 60);
  }
  assert.equal(tun.written.length, 0, 'nothing written before the batch ends');
  w.endBatch();
  assert.deepEqual(tun.batches, [5]);
  assert.equal(tun.singles, 0);
  assert.deepEqual(ids(tun), [0, 1, 2, 3, 4]);
});

test('TunWriter: a packet outside the batch slab is written at once, after what was queued', () => {
  const tun = new CountingTun();
  const w = new TunWriter(tun);
  const slab = Buffer.alloc(4096);
  w.beginBatch(slab);
  packet(1).copy(slab, 0);
  w.packet(slab, 0, 60);
  w.packet(packet(2), 0, 60); // a dgram 'message' buffer
  assert.deepEqual(ids(tun), [1, 2]);
  w.endBatch();
  assert.deepEqual(ids(tun), [1, 2]);
});

test('TunWriter: CSTP records are written at once without GRO, and copied and written per event-loop turn with it', async () => {
  const plain = new CountingTun();
  const w0 = new TunWriter(plain);
  const buf = Buffer.alloc(200);
  packet(7).copy(buf, 10);
  w0.record(buf, 10, 70);
  assert.deepEqual(ids(plain), [7]);
  assert.equal(plain.singles, 1);

  const tun = new CountingTun();
  tun.gro = true;
  const w = new TunWriter(tun);
  for (let i = 0; i < 3; i++) {
    packet(10 + i).copy(buf, 10); // the shared read buffer, reused by the next read
    w.record(buf, 10, 70);
  }
  assert.equal(tun.written.length, 0, 'records wait for the end of the event-loop turn');
  await tick();
  assert.deepEqual(tun.batches, [3]);
  assert.deepEqual(ids(tun), [10, 11, 12], 'each record was copied before its buffer was reused');
});

test('TunWriter: refused writes are counted', () => {
  const tun = new CountingTun();
  tun.accept = false;
  const w = new TunWriter(tun);
  const slab = Buffer.alloc(1024);
  w.beginBatch(slab);
  w.packet(slab, 0, 60);
  w.packet(slab, 100, 160);
  w.endBatch();
  w.packet(packet(3), 0, 60);
  assert.equal(w.writeErrors, 3);
});

test('TunWriter: random mixes of receive batches, dgram packets and CSTP records keep every packet once, in order', async () => {
  const rnd = seeded('client-tun-writer mix');
  for (const gro of [true, false]) {
    const tun = new CountingTun();
    tun.gro = gro;
    const w = new TunWriter(tun);
    const readBuf = Buffer.alloc(70_000);
    let next = 0;
    const sent: number[] = [];
    for (let step = 0; step < 400; step++) {
      const kind = rnd.int(4);
      if (kind === 0) {
        // a receive batch of 1..40 packets in a fresh slab (sizes up to a full MTU)
        const n = 1 + rnd.int(40);
        const slab = Buffer.alloc(n * 1600);
        w.beginBatch(slab);
        for (let i = 0; i < n; i++) {
          const len = 20 + rnd.int(1500);
          packet(next, len).copy(slab, i * 1600);
          sent.push(next++);
          w.packet(slab, i * 1600, i * 1600 + len);
        }
        w.endBatch();
      } else if (kind === 1) {
        w.packet(packet(next), 0, 60);
        sent.push(next++);
      } else if (kind === 2) {
        // one TLS read: 1..60 records in the shared buffer, which the next read overwrites
        const n = 1 + rnd.int(60);
        for (let i = 0; i < n; i++) {
          const len = 20 + rnd.int(1500);
          const at = rnd.int(readBuf.length - len);
          packet(next, len).copy(readBuf, at);
          sent.push(next++);
          w.record(readBuf, at, at + len);
          readBuf.fill(0xaa, at, at + len);
        }
      } else {
        await tick();
      }
    }
    await tick();
    assert.deepEqual(ids(tun), sent, `gro ${gro}: every packet once, in order`);
  }
});
