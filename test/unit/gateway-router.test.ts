/**
 * Router (src/gateway/router.ts), the gateway's packet switch, on a fake TUN: packets from the
 * TUN go to the sink of the session that holds the destination address; packets from a session
 * reach the TUN only with that session's own source address; detach removes only the route it
 * was given.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Router, type PacketSink } from '../../src/gateway/router.js';
import { FakeTun, ip, ipv4Packet } from './fake-tun.js';

class RecordingSink implements PacketSink {
  readonly got: Buffer[] = [];
  constructor(private readonly up = true) {}
  sendPacket(buf: Uint8Array, off: number, len: number): boolean {
    this.got.push(Buffer.from(buf.subarray(off, off + len)));
    return this.up;
  }
}

function setup(): { tun: FakeTun; router: Router } {
  const tun = new FakeTun();
  const router = new Router(tun);
  router.start();
  return { tun, router };
}

test('Router: a TUN batch is routed by destination address to each session; unknown destinations are counted', () => {
  const { tun, router } = setup();
  const a = new RecordingSink();
  const b = new RecordingSink();
  router.attach(ip('10.9.0.2'), a);
  router.attach(ip('10.9.0.3'), b);
  const toA1 = ipv4Packet('10.9.0.1', '10.9.0.2', 'a1');
  const toB = ipv4Packet('10.9.0.1', '10.9.0.3', 'b1');
  const toNobody = ipv4Packet('10.9.0.1', '10.9.0.4', 'x');
  const toA2 = ipv4Packet('10.9.0.1', '10.9.0.2', 'a2 longer payload');
  const notIp = Buffer.from('60000000', 'hex'); // too short and not IPv4
  tun.inject([toA1, toB, toNobody, toA2, notIp]);
  assert.deepEqual(a.got, [toA1, toA2]);
  assert.deepEqual(b.got, [toB]);
  assert.equal(router.counters.tunRxPackets, 5);
  assert.equal(router.counters.noRoute, 2);
});

test('Router: a packet from a client reaches the TUN only with the source address the session holds', () => {
  const { tun, router } = setup();
  const own = ipv4Packet('10.9.0.2', '192.0.2.1', 'mine');
  const framed = Buffer.concat([Buffer.from([0x00, 0xaa]), own, Buffer.from([0xbb])]);
  router.fromClient(ip('10.9.0.2'), framed, 2, 2 + own.length);
  assert.deepEqual(tun.written, [own]);
  // Another client's address, the gateway's, or something that is not IPv4: dropped and counted.
  for (const spoof of [ipv4Packet('10.9.0.3', '192.0.2.1'), ipv4Packet('10.9.0.1', '192.0.2.1'), Buffer.from('600000000000', 'hex')]) {
    router.fromClient(ip('10.9.0.2'), spoof, 0, spoof.length);
  }
  assert.equal(tun.written.length, 1);
  assert.equal(router.counters.spoofed, 3);
  // A write the kernel refuses is counted, not thrown.
  tun.accept = false;
  router.fromClient(ip('10.9.0.2'), own, 0, own.length);
  assert.equal(router.counters.tunWriteErrors, 1);
});

test('Router: detach removes the route only when it still points at that sink (a reconnect replaced it)', () => {
  const { tun, router } = setup();
  const oldSink = new RecordingSink();
  const newSink = new RecordingSink();
  const addr = ip('10.9.0.2');
  router.attach(addr, oldSink);
  router.attach(addr, newSink); // the reconnect's tunnel takes the address over
  router.detach(addr, oldSink); // the old tunnel's clean-up comes late: must not remove the new route
  const p = ipv4Packet('10.9.0.1', '10.9.0.2');
  tun.inject([p]);
  assert.deepEqual(newSink.got, [p]);
  assert.equal(oldSink.got.length, 0);
  router.detach(addr, newSink);
  tun.inject([p]);
  assert.equal(newSink.got.length, 1);
  assert.equal(router.counters.noRoute, 1);
});

test('Router: CSTP packets (fromClientRecord) are copied and written as one batch after the I/O at hand, in order; spoofed ones dropped', async () => {
  const tun = new FakeTun();
  tun.gro = true;
  let batches = 0;
  const realBatch = tun.writeBatch.bind(tun);
  tun.writeBatch = (slab, offs, lens, n) => {
    batches++;
    return realBatch(slab, offs, lens, n);
  };
  const router = new Router(tun);
  const pkts = Array.from({ length: 5 }, (_, i) => ipv4Packet('10.9.0.2', '10.9.0.1', `p${i} `.repeat(i + 1)));
  const record = Buffer.alloc(2048);
  for (const p of pkts) {
    // The caller reuses its buffer at once: what was handed over must already be copied.
    p.copy(record, 8);
    router.fromClientRecord(ip('10.9.0.2'), record, 8, 8 + p.length);
    record.fill(0xee);
  }
  const spoofed = ipv4Packet('10.9.0.3', '10.9.0.1', 'spoof');
  router.fromClientRecord(ip('10.9.0.2'), spoofed, 0, spoofed.length);
  assert.equal(tun.written.length, 0, 'nothing written before the event loop moves on');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(tun.written, pkts);
  assert.equal(batches, 1);
  assert.equal(router.counters.spoofed, 1);
});

test('Router: without write-side GRO, CSTP packets are written at once (nothing to gain from waiting)', () => {
  const tun = new FakeTun();
  const router = new Router(tun);
  const p = ipv4Packet('10.9.0.2', '10.9.0.1', 'now');
  router.fromClientRecord(ip('10.9.0.2'), p, 0, p.length);
  assert.deepEqual(tun.written, [p]);
});
