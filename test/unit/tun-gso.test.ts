/**
 * The addon's super-packet splitter (native/gso.c) on its own: super-packets built here the way
 * the kernel hands them over a TUN with IFF_VNET_HDR (virtio_net_hdr + one big IP packet with a
 * partial checksum) must come out as MTU-sized packets whose every field and checksum is checked
 * by independent code below; malformed input must be refused, never crash or read out of bounds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gsoSplit } from '../../src/os/tun.js';
import { seeded } from '../helpers/seed.js';

const SLOT = 2048;
const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;
const GSO_UDP_L4 = 5;
const NEEDS_CSUM = 1;

function sum16(buf: Buffer, start = 0, end = buf.length, acc = 0): number {
  for (let i = start; i < end; i += 2) acc += (buf[i]! << 8) | (i + 1 < end ? buf[i + 1]! : 0);
  return acc;
}
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}
/** True when the one's-complement sum over the region (checksum included) is all ones. */
function l4Valid(p: Buffer, v6: boolean, l3: number, proto: number): boolean {
  const l4len = p.length - l3;
  let s = v6 ? sum16(p, 8, 40) : sum16(p, 12, 20);
  s += proto + l4len;
  return fold(sum16(p, l3, p.length, s)) === 0xffff;
}
const ipv4HeaderValid = (p: Buffer, l3: number): boolean => fold(sum16(p, 0, l3)) === 0xffff;

function vnet(type: number, gsoSize: number, csumStart: number, csumOffset: number, flags = NEEDS_CSUM): Buffer {
  const h = Buffer.alloc(10);
  h[0] = flags;
  h[1] = type;
  h.writeUInt16LE(0, 2);
  h.writeUInt16LE(gsoSize, 4);
  h.writeUInt16LE(csumStart, 6);
  h.writeUInt16LE(csumOffset, 8);
  return h;
}

interface Built { pkt: Buffer; l3: number; hdr: number; payload: Buffer }

/** An IPv4 (optionally with `options` bytes of IP options) or IPv6 TCP super-packet. */
function tcpSuper(v6: boolean, payload: Buffer, o: { options?: number; flags?: number; seq?: number; id?: number; tcpOptions?: number } = {}): Built {
  const l3 = v6 ? 40 : 20 + (o.options ?? 0);
  const tcpLen = 20 + (o.tcpOptions ?? 0);
  const hdr = l3 + tcpLen;
  const pkt = Buffer.alloc(hdr + payload.length);
  if (v6) {
    pkt[0] = 0x60;
    pkt.writeUInt16BE(tcpLen + payload.length, 4);
    pkt[6] = 6;
    pkt[7] = 64;
    Buffer.from('fd000000000000000000000000000001fd000000000000000000000000000002', 'hex').copy(pkt, 8);
  } else {
    pkt[0] = 0x40 | (l3 / 4);
    pkt.writeUInt16BE(pkt.length, 2);
    pkt.writeUInt16BE(o.id ?? 0xfffe, 4); // wraps during the split
    pkt.writeUInt16BE(0x4000, 6); // DF
    pkt[8] = 64;
    pkt[9] = 6;
    Buffer.from([10, 1, 2, 3, 10, 9, 8, 7]).copy(pkt, 12);
    for (let i = 20; i < l3; i++) pkt[i] = i === l3 - 1 ? 0 : 1; // NOPs then EOL
  }
  pkt.writeUInt16BE(40000, l3);
  pkt.writeUInt16BE(443, l3 + 2);
  pkt.writeUInt32BE(o.seq ?? 0xfffff000, l3 + 4); // wraps during the split
  pkt.writeUInt32BE(12345, l3 + 8);
  pkt[l3 + 12] = (tcpLen / 4) << 4;
  pkt[l3 + 13] = o.flags ?? 0x18; // PSH|ACK
  pkt.writeUInt16BE(501, l3 + 14);
  for (let i = l3 + 20; i < hdr; i++) pkt[i] = 1; // NOP options
  pkt.writeUInt16BE(0x1234, l3 + 16); // a "partial" checksum: the splitter must not trust it
  payload.copy(pkt, hdr);
  return { pkt, l3, hdr, payload };
}

function udpSuper(payload: Buffer): Built {
  const l3 = 20;
  const hdr = 28;
  const pkt = Buffer.alloc(hdr + payload.length);
  pkt[0] = 0x45;
  pkt.writeUInt16BE(pkt.length, 2);
  pkt.writeUInt16BE(7, 4);
  pkt[8] = 64;
  pkt[9] = 17;
  Buffer.from([10, 1, 2, 3, 10, 9, 8, 7]).copy(pkt, 12);
  pkt.writeUInt16BE(5000, 20);
  pkt.writeUInt16BE(6000, 22);
  pkt.writeUInt16BE(pkt.length - l3, 24);
  payload.copy(pkt, hdr);
  return { pkt, l3, hdr, payload };
}

function split(vh: Buffer, pkt: Buffer, mtu: number, slot = SLOT): { n: number; segs: Buffer[] } {
  const out = Buffer.alloc(slot * 64);
  const lens = new Uint32Array(64);
  const n = gsoSplit(vh, pkt, mtu, out, slot, lens);
  const segs: Buffer[] = [];
  for (let i = 0; i < n; i++) segs.push(Buffer.from(out.subarray(i * slot, i * slot + lens[i]!)));
  return { n, segs };
}

function checkTcpSegments(b: Built, segs: Buffer[], v6: boolean, mss: number): void {
  const origFlags = b.pkt[b.l3 + 13]!;
  const seq0 = b.pkt.readUInt32BE(b.l3 + 4);
  let off = 0;
  segs.forEach((s, i) => {
    const last = i === segs.length - 1;
    assert.ok(s.length <= b.hdr + mss, `segment ${i}: ${s.length} bytes > ${b.hdr + mss}`);
    if (!last) assert.equal(s.length, b.hdr + mss, `segment ${i} is not full-size`);
    if (v6) assert.equal(s.readUInt16BE(4), s.length - 40);
    else {
      assert.equal(s.readUInt16BE(2), s.length);
      assert.equal(s.readUInt16BE(4), (b.pkt.readUInt16BE(4) + i) & 0xffff, 'IPv4 id');
      assert.ok(ipv4HeaderValid(s, b.l3), `segment ${i}: IPv4 header checksum`);
      assert.deepEqual(s.subarray(20, b.l3), b.pkt.subarray(20, b.l3), 'IP options copied');
    }
    assert.ok(l4Valid(s, v6, b.l3, 6), `segment ${i}: TCP checksum`);
    assert.equal(s.readUInt32BE(b.l3 + 4), (seq0 + off) >>> 0, `segment ${i}: seq`);
    let want = origFlags;
    if (!last) want &= ~0x09; // FIN, PSH only on the last
    if (i > 0) want &= ~0x80; // CWR only on the first
    assert.equal(s[b.l3 + 13], want, `segment ${i}: flags`);
    off += s.length - b.hdr;
  });
  assert.deepEqual(Buffer.concat(segs.map((s) => s.subarray(b.hdr))), b.payload, 'payload');
}

test('IPv4 TCP super-packets (with IP and TCP options) split at gso_size into valid segments', () => {
  const rnd = seeded('tun-gso-v4');
  for (const [size, gso, options, tcpOptions] of [[65000, 1348, 0, 12], [3000, 1448, 8, 0], [1349, 1348, 40, 0], [2 * 1348, 1348, 0, 0]] as const) {
    const b = tcpSuper(false, rnd.bytes(size), { options, tcpOptions, flags: 0x80 | 0x18 | 0x01 /* CWR PSH ACK FIN */ });
    const { n, segs } = split(vnet(GSO_TCPV4, gso, b.l3, 16), b.pkt, 1500);
    assert.equal(n, Math.ceil(size / gso));
    checkTcpSegments(b, segs, false, gso);
  }
});

test('IPv6 TCP super-packet split into valid segments', () => {
  const b = tcpSuper(true, seeded('tun-gso-v6').bytes(40000), { tcpOptions: 12 });
  const { n, segs } = split(vnet(GSO_TCPV6, 1388, 40, 16), b.pkt, 1500);
  assert.equal(n, Math.ceil(40000 / 1388));
  checkTcpSegments(b, segs, true, 1388);
});

test('a gso_size above the MTU is cut to the MTU (TCP), never above it', () => {
  const b = tcpSuper(false, seeded('tun-gso-mtu').bytes(20000));
  const mtu = 1406;
  const { segs } = split(vnet(GSO_TCPV4, 1460, 20, 16), b.pkt, mtu);
  for (const s of segs) assert.ok(s.length <= mtu);
  checkTcpSegments(b, segs, false, mtu - b.hdr);
});

test('UDP (USO) super-packet: one datagram per gso_size, each with its own length and checksum', () => {
  const b = udpSuper(seeded('tun-gso-udp').bytes(1200 * 5 + 77));
  const { n, segs } = split(vnet(GSO_UDP_L4, 1200, 20, 6), b.pkt, 1500);
  assert.equal(n, 6);
  segs.forEach((s, i) => {
    assert.equal(s.readUInt16BE(24), s.length - 20, 'UDP length');
    assert.equal(s.readUInt16BE(4), 7 + i);
    assert.ok(ipv4HeaderValid(s, 20));
    assert.ok(l4Valid(s, false, 20, 17), `segment ${i}: UDP checksum`);
    assert.notEqual(s.readUInt16BE(26), 0);
  });
  assert.deepEqual(Buffer.concat(segs.map((s) => s.subarray(28))), b.payload);
  // A UDP datagram may not be re-cut: above the MTU it is dropped instead.
  assert.ok(split(vnet(GSO_UDP_L4, 1200, 20, 6), b.pkt, 1000).n < 0);
});

test('a single packet with NEEDS_CSUM gets its checksum completed in place; without the flag it is left alone', () => {
  const b = tcpSuper(false, seeded('tun-gso-csum').bytes(999));
  // What the kernel leaves in the field: the pseudo-header sum (not inverted).
  const pseudo = fold(sum16(b.pkt, 12, 20) + 6 + (b.pkt.length - 20));
  b.pkt.writeUInt16BE(pseudo, 36);
  assert.equal(split(vnet(0, 0, 20, 16), b.pkt, 1500).n, 0);
  assert.ok(l4Valid(b.pkt, false, 20, 6));
  const before = Buffer.from(b.pkt);
  assert.equal(split(vnet(0, 0, 0, 0, 0), b.pkt, 1500).n, 0);
  assert.deepEqual(b.pkt, before);
});

test('malformed headers and truncated super-packets are refused (negative), never split', () => {
  const b = tcpSuper(false, Buffer.alloc(5000, 7));
  const bad: Array<[string, Buffer, Buffer]> = [
    ['gso_size 0', vnet(GSO_TCPV4, 0, 20, 16), b.pkt],
    ['unknown gso_type', vnet(9, 1400, 20, 16), b.pkt],
    ['unknown flag', vnet(GSO_TCPV4, 1400, 20, 16, 0x40), b.pkt],
    ['csum_start past the end', vnet(0, 0, 60000, 16), b.pkt],
    ['csum_offset past the end', vnet(0, 0, 20, 5019), b.pkt],
    ['csum_start not the L4 header', vnet(GSO_TCPV4, 1400, 24, 16), b.pkt],
    ['truncated (IP length says more)', vnet(GSO_TCPV4, 1400, 20, 16), b.pkt.subarray(0, 3000)],
    ['TCPV6 on an IPv4 packet', vnet(GSO_TCPV6, 1400, 20, 16), b.pkt],
    ['UDP_L4 on a TCP packet', vnet(GSO_UDP_L4, 1400, 20, 6), b.pkt],
    ['shorter than an IP header', vnet(GSO_TCPV4, 1400, 20, 16), b.pkt.subarray(0, 12)],
    ['headers only', vnet(GSO_TCPV4, 1400, 20, 16), tcpSuper(false, Buffer.alloc(0)).pkt],
  ];
  for (const [what, vh, pkt] of bad) assert.ok(split(vh, Buffer.from(pkt), 1500).n < 0, what);
  // An IHL that points past the packet, a TCP data offset below 5.
  const ihl = Buffer.from(b.pkt);
  ihl[0] = 0x4f;
  ihl.writeUInt16BE(40, 2);
  assert.ok(split(vnet(GSO_TCPV4, 1400, 60, 16), ihl.subarray(0, 40), 1500).n < 0);
  const doff = Buffer.from(b.pkt);
  doff[20 + 12] = 0x20;
  assert.ok(split(vnet(GSO_TCPV4, 1400, 20, 16), doff, 1500).n < 0);
});

test('random garbage never crashes and never yields a segment above the MTU', () => {
  const rnd = seeded('tun-gso-fuzz');
  const good = tcpSuper(false, rnd.bytes(8000));
  // Room for the most segments any input here can make (a random gso_size may be 1 byte: one
  // segment per payload byte), allocated once: the splitter must never need more than that.
  const most = good.pkt.length;
  const out = Buffer.alloc(SLOT * most);
  const lens = new Uint32Array(most);
  for (let i = 0; i < 3000; i++) {
    const pkt = Buffer.from(good.pkt.subarray(0, 1 + rnd.int(good.pkt.length)));
    // Flip a few bytes in the headers, and use a random header half the time.
    for (let k = rnd.int(4); k > 0; k--) pkt[rnd.int(Math.min(pkt.length, 60))] = rnd.int(256);
    const vh = rnd.int(2) ? rnd.bytes(10) : vnet(GSO_TCPV4, 1 + rnd.int(2000), 20, 16);
    const mtu = 576 + rnd.int(1000);
    const n = gsoSplit(vh, pkt, mtu, out, SLOT, lens);
    assert.ok(Number.isInteger(n));
    for (let k = 0; k < n; k++) assert.ok(lens[k]! <= Math.min(mtu, SLOT), `${lens[k]} > mtu ${mtu}`);
  }
});
