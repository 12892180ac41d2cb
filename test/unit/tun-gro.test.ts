/**
 * Write-side GRO (native/gro.c) on its own: runs of one TCP upload are merged into one packet with
 * a TCPv4 GSO virtio header, and the kernel's segmentation of it must give back exactly the
 * packets that went in. Our own splitter (native/gso.c, checked against independent code in
 * tun-gso.test.ts) stands in for the kernel: merged write -> gsoSplit -> byte-identical to the
 * original segments. Everything the kernel's GRO would not merge (other flow, gap, options,
 * flags, bad checksums, fragments, size limits) must be written alone and untouched. Random
 * batches (seeded) never crash and account for every packet.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GRO_OUT_SLOT, groCoalesce, gsoSplit } from '../../src/os/tun.js';
import { seeded } from '../helpers/seed.js';

function sum16(buf: Buffer, start: number, end: number, acc = 0): number {
  for (let i = start; i < end; i += 2) acc += (buf[i]! << 8) | (i + 1 < end ? buf[i + 1]! : 0);
  return acc;
}
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

interface Seg {
  payload: number;
  seq: number;
  id: number;
  flags?: number;
  /** TCP option bytes (multiple of 4): timestamps-like by default */
  tsval?: number;
  window?: number;
  dport?: number;
  ipOptions?: boolean;
  df?: boolean;
  frag?: number;
  corruptTcp?: boolean;
  corruptIp?: boolean;
}

/** One valid IPv4 TCP segment as a client's stack sends it (DF, ACK, NOP NOP TS option). */
function segment(s: Seg, fill: (n: number) => Buffer): Buffer {
  const l3 = s.ipOptions ? 24 : 20;
  const thl = 32;
  const pkt = Buffer.alloc(l3 + thl + s.payload);
  pkt[0] = 0x40 | (l3 / 4);
  pkt.writeUInt16BE(pkt.length, 2);
  pkt.writeUInt16BE(s.id & 0xffff, 4);
  pkt.writeUInt16BE((s.df === false ? 0 : 0x4000) | (s.frag ?? 0), 6);
  pkt[8] = 64;
  pkt[9] = 6;
  Buffer.from([10, 100, 0, 5, 10, 100, 0, 1]).copy(pkt, 12);
  if (s.ipOptions) pkt.writeUInt32BE(0x01010100, 20); // NOP NOP NOP EOL
  pkt.writeUInt16BE(sum16(pkt, 0, l3) === 0 ? 0 : ~fold(sum16(pkt, 0, l3)) & 0xffff, 10);
  const t = l3;
  pkt.writeUInt16BE(45000, t);
  pkt.writeUInt16BE(s.dport ?? 5201, t + 2);
  pkt.writeUInt32BE(s.seq >>> 0, t + 4);
  pkt.writeUInt32BE(777, t + 8);
  pkt[t + 12] = (thl / 4) << 4;
  pkt[t + 13] = s.flags ?? 0x10;
  pkt.writeUInt16BE(s.window ?? 502, t + 14);
  pkt.writeUInt32BE(0x0101080a, t + 20); // NOP NOP TS(10)
  pkt.writeUInt32BE(s.tsval ?? 1000, t + 24);
  pkt.writeUInt32BE(2000, t + 28);
  fill(s.payload).copy(pkt, t + thl);
  const tcpLen = pkt.length - l3;
  const c = ~fold(sum16(pkt, t, pkt.length, sum16(pkt, 12, 20) + 6 + tcpLen)) & 0xffff;
  pkt.writeUInt16BE(c, t + 16);
  if (s.corruptTcp) pkt[pkt.length - 1] ^= 0x5a;
  if (s.corruptIp) pkt[8] = 63; // TTL changed, checksum not
  return pkt;
}

interface Written {
  vh: Buffer;
  pkt: Buffer;
}

/** Runs groCoalesce over the packets (copied into one slab, with gaps) and returns the writes. */
function coalesce(pkts: Buffer[]): Written[] {
  const offs = new Uint32Array(pkts.length);
  const lens = new Uint32Array(pkts.length);
  let at = 0;
  for (let i = 0; i < pkts.length; i++) {
    offs[i] = at + 13; // odd offsets: nothing may assume alignment
    lens[i] = pkts[i]!.length;
    at += 13 + pkts[i]!.length;
  }
  const slab = Buffer.alloc(at);
  pkts.forEach((p, i) => p.copy(slab, offs[i]!));
  const out = Buffer.alloc(GRO_OUT_SLOT * Math.max(1, pkts.length));
  const outLens = new Uint32Array(Math.max(1, pkts.length));
  const n = groCoalesce(slab, offs, lens, pkts.length, out, outLens);
  const res: Written[] = [];
  for (let i = 0; i < n; i++) {
    const w = out.subarray(i * GRO_OUT_SLOT, i * GRO_OUT_SLOT + outLens[i]!);
    res.push({ vh: Buffer.from(w.subarray(0, 10)), pkt: Buffer.from(w.subarray(10)) });
  }
  return res;
}

/** What the kernel gets out of one write: the packet itself, or the segments of a GSO packet. */
function resegment(w: Written): Buffer[] {
  if (w.vh[1] === 0) {
    assert.ok(w.vh.every((b) => b === 0), 'an unmerged write carries a plain virtio header');
    return [w.pkt];
  }
  assert.equal(w.vh[0], 1, 'NEEDS_CSUM');
  assert.equal(w.vh[1], 1, 'GSO TCPv4');
  assert.equal(w.vh.readUInt16LE(6), 20, 'csum_start');
  assert.equal(w.vh.readUInt16LE(8), 16, 'csum_offset');
  assert.equal(w.pkt.readUInt16BE(2), w.pkt.length, 'IP total length of the merged packet');
  assert.equal(fold(sum16(w.pkt, 0, 20)), 0xffff, 'IP header checksum of the merged packet');
  // The checksum field: the pseudo-header sum (not inverted), as CHECKSUM_PARTIAL wants it.
  assert.equal(w.pkt.readUInt16BE(36), fold(sum16(w.pkt, 12, 20) + 6 + (w.pkt.length - 20)));
  const slot = 2048;
  const out = Buffer.alloc(slot * 70);
  const lens = new Uint32Array(70);
  const n = gsoSplit(w.vh, Buffer.from(w.pkt), 9000, out, slot, lens);
  assert.ok(n > 1, `gsoSplit refused the merged packet (${n})`);
  return Array.from({ length: n }, (_, i) => Buffer.from(out.subarray(i * slot, i * slot + lens[i]!)));
}

function bulk(count: number, o: { mss?: number; last?: number; seq?: number; id?: number } = {}, fill: (n: number) => Buffer): Seg[] {
  const mss = o.mss ?? 1368;
  const out: Seg[] = [];
  let seq = o.seq ?? 0xffffe000; // wraps inside the run
  for (let i = 0; i < count; i++) {
    const payload = i === count - 1 && o.last !== undefined ? o.last : mss;
    out.push({ payload, seq, id: (o.id ?? 0xfff0) + i });
    seq = (seq + payload) >>> 0;
  }
  void fill;
  return out;
}

test('a bulk upload run becomes one GSO write that segments back into the same packets', () => {
  const rnd = seeded('tun-gro-run');
  const fill = (n: number): Buffer => rnd.bytes(n);
  const segs = bulk(40, { last: 700 }, fill);
  segs[segs.length - 1]!.flags = 0x18; // PSH on the last, as a sender's last segment of a write
  const pkts = segs.map((s) => segment(s, fill));
  const writes = coalesce(pkts.map((p) => Buffer.from(p)));
  assert.equal(writes.length, 1);
  assert.equal(writes[0]!.vh.readUInt16LE(4), 1368, 'gso_size = the segments\' payload');
  assert.equal(writes[0]!.vh.readUInt16LE(2), 52, 'hdr_len = IP + TCP headers');
  assert.deepEqual(resegment(writes[0]!), pkts);
});

test('a run stops at 64 KB and at 64 segments; the rest starts the next run', () => {
  const rnd = seeded('tun-gro-limits');
  const fill = (n: number): Buffer => rnd.bytes(n);
  // 1448-byte payloads: 45 fit under 65535 (52 + 45 * 1448 = 65212), the 46th does not.
  const big = bulk(50, { mss: 1448 }, fill).map((s) => segment(s, fill));
  const w1 = coalesce(big.map((p) => Buffer.from(p)));
  assert.deepEqual(w1.map((w) => (w.vh[1] === 0 ? 1 : (w.pkt.length - 52) / 1448)), [45, 5]);
  assert.deepEqual(w1.flatMap(resegment), big);
  // 100-byte payloads: 64 per run at most.
  const small = bulk(70, { mss: 100 }, fill).map((s) => segment(s, fill));
  const w2 = coalesce(small.map((p) => Buffer.from(p)));
  assert.deepEqual(w2.map((w) => (w.vh[1] === 0 ? 1 : (w.pkt.length - 52) / 100)), [64, 6]);
  assert.deepEqual(w2.flatMap(resegment), small);
});

test('what the kernel would not merge is written alone, unchanged, and breaks the run', () => {
  const rnd = seeded('tun-gro-breakers');
  const fill = (n: number): Buffer => rnd.bytes(n);
  const cases: Array<[string, (s: Seg) => void]> = [
    ['IPv4 options', (s) => (s.ipOptions = true)],
    ['another flow (port)', (s) => (s.dport = 5202)],
    ['a sequence gap', (s) => (s.seq = (s.seq + 1) >>> 0)],
    ['FIN', (s) => (s.flags = 0x11)],
    ['SYN-less RST', (s) => (s.flags = 0x14)],
    ['URG', (s) => (s.flags = 0x30)],
    ['ECE/CWR', (s) => (s.flags = 0x50)],
    ['other TCP options (timestamp)', (s) => (s.tsval = 1001)],
    ['another window', (s) => (s.window = 503)],
    ['a bad TCP checksum', (s) => (s.corruptTcp = true)],
    ['a bad IP header checksum', (s) => (s.corruptIp = true)],
    ['DF unset', (s) => (s.df = false)],
    ['a fragment', (s) => (s.frag = 0x2000)],
  ];
  for (const [name, change] of cases) {
    const segs = bulk(7, {}, fill);
    change(segs[3]!);
    const pkts = segs.map((s) => segment(s, fill));
    const writes = coalesce(pkts.map((p) => Buffer.from(p)));
    // 0..2 merged; 3 alone; 4..6 merged when 3 kept the sequence (else 4 follows 3's gap: alone
    // too, or merged with 5..6).
    assert.ok(writes.length >= 3, `${name}: ${writes.length} writes`);
    assert.equal(writes[0]!.vh[1], 1, `${name}: the run before it is merged`);
    assert.equal(writes[1]!.vh[1], 0, `${name}: it is written alone`);
    assert.deepEqual(writes[1]!.pkt, pkts[3], `${name}: and unchanged`);
    assert.deepEqual(writes.flatMap(resegment), pkts, `${name}: every packet reaches the kernel as it was`);
  }
});

test('PSH ends a run; a short segment ends a run; pure ACKs and single packets pass alone', () => {
  const rnd = seeded('tun-gro-ends');
  const fill = (n: number): Buffer => rnd.bytes(n);
  const segs = bulk(8, {}, fill);
  segs[2]!.flags = 0x18; // PSH: 0..2 merged
  segs[5]!.payload = 500; // short: 3..5 merged (5 is the short last), 6.. starts again
  let seq = segs[0]!.seq;
  for (const s of segs) {
    s.seq = seq;
    seq = (seq + s.payload) >>> 0;
  }
  const pkts = segs.map((s) => segment(s, fill));
  const writes = coalesce(pkts.map((p) => Buffer.from(p)));
  assert.deepEqual(writes.map((w) => (w.vh[1] === 0 ? 1 : resegment(w).length)), [3, 3, 2]);
  assert.equal(writes[0]!.pkt[33]! & 0x08, 0x08, 'the merged packet carries the PSH of its last segment');
  assert.deepEqual(writes.flatMap(resegment), pkts);
  const ack = segment({ payload: 0, seq: 1, id: 1 }, fill).subarray(0, 52);
  ack.writeUInt16BE(52, 2);
  assert.equal(coalesce([Buffer.from(ack), Buffer.from(ack)]).length, 2);
  assert.equal(coalesce([pkts[0]!]).length, 1);
});

test('random batches (seeded): no crash, every in-bounds packet written once, in order', () => {
  const rnd = seeded('tun-gro-garbage');
  const fill = (n: number): Buffer => rnd.bytes(n);
  for (let round = 0; round < 300; round++) {
    const pkts: Buffer[] = [];
    const n = 1 + rnd.int(40);
    let seq = rnd.int(0xffffffff);
    for (let i = 0; i < n; i++) {
      const kind = rnd.int(4);
      if (kind === 0) {
        pkts.push(rnd.bytes(rnd.int(1600)));
      } else {
        const payload = kind === 1 ? 1 + rnd.int(1400) : 1000;
        const p = segment({ payload, seq, id: i }, fill);
        seq = (seq + payload) >>> 0;
        if (kind === 3 && p.length > 60) p[20 + rnd.int(p.length - 20)] ^= 1 << rnd.int(8); // a flipped bit anywhere
        pkts.push(p);
      }
    }
    const writes = coalesce(pkts.map((p) => Buffer.from(p)));
    const back = writes.flatMap(resegment);
    assert.equal(back.length, pkts.length, `round ${round}`);
    // Merged segments come back byte for byte (their checksums were valid); the others as they were.
    assert.deepEqual(back, pkts, `round ${round}`);
  }
});
