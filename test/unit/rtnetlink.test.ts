/**
 * rtnetlink.ts encodes what iproute2 sends (checked field by field here; the kernel's verdict on
 * the same messages is test/interop/host-config-netlink.test.ts). The addon's nlRequest refuses
 * arguments out of its bounds before anything reaches the kernel.
 */
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { test } from 'node:test';
import { loadAddon } from '../../src/os/native-addon.js';
import { describeRtRequest } from '../../src/os/netlink-config.js';
import { encodeRtRequests, type RtRequest } from '../../src/os/rtnetlink.js';
import { parseIpv4 } from '../../src/protocol/ipv4.js';

const le = endianness() === 'LE';
const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
const ip = (s: string): number => parseIpv4(s)!;

test('three requests: headers, sequence numbers 1..n, bodies and attributes', () => {
  const reqs: RtRequest[] = [
    { kind: 'link', ifindex: 7, mtu: 1399, up: true },
    { kind: 'addr', ifindex: 7, address: ip('10.1.2.3'), prefix: 24 },
    { kind: 'route', ifindex: 3, dst: ip('192.0.2.0'), prefix: 24, gateway: ip('10.77.0.1') },
  ];
  const b = encodeRtRequests(reqs);
  assert.equal(b.length, 40 + 40 + 52);
  // link: RTM_NEWLINK, REQUEST|ACK, seq 1, ifinfomsg index 7, flags=change=IFF_UP, IFLA_MTU 1399
  assert.deepEqual([u32(b, 0), u16(b, 4), u16(b, 6), u32(b, 8), u32(b, 12)], [40, 16, 0x5, 1, 0]);
  assert.deepEqual([b[16], u32(b, 20), u32(b, 24), u32(b, 28)], [0, 7, 1, 1]);
  assert.deepEqual([u16(b, 32), u16(b, 34), u32(b, 36)], [8, 4, 1399]);
  // addr: RTM_NEWADDR, REQUEST|ACK|CREATE|REPLACE, seq 2, AF_INET /24 index 7, IFA_LOCAL + IFA_ADDRESS
  const a = 40;
  assert.deepEqual([u32(b, a), u16(b, a + 4), u16(b, a + 6), u32(b, a + 8)], [40, 20, 0x505, 2]);
  assert.deepEqual([b[a + 16], b[a + 17], b[a + 19], u32(b, a + 20)], [2, 24, 0, 7]);
  assert.deepEqual([u16(b, a + 24), u16(b, a + 26), b.subarray(a + 28, a + 32).join('.')], [8, 2, '10.1.2.3']);
  assert.deepEqual([u16(b, a + 32), u16(b, a + 34), b.subarray(a + 36, a + 40).join('.')], [8, 1, '10.1.2.3']);
  // route: RTM_NEWROUTE, seq 3, main table, proto boot, scope universe (has a gateway), unicast
  const r = 80;
  assert.deepEqual([u32(b, r), u16(b, r + 4), u16(b, r + 6), u32(b, r + 8)], [52, 24, 0x505, 3]);
  assert.deepEqual([...b.subarray(r + 16, r + 24)], [2, 24, 0, 0, 254, 3, 0, 1]);
  assert.deepEqual([u16(b, r + 30), b.subarray(r + 32, r + 36).join('.')], [1, '192.0.2.0']);
  assert.deepEqual([u16(b, r + 38), u32(b, r + 40)], [4, 3]);
  assert.deepEqual([u16(b, r + 46), b.subarray(r + 48, r + 52).join('.')], [5, '10.77.0.1']);
});

test('a route without a gateway has scope link, as ip(8) gives it', () => {
  const b = encodeRtRequests([{ kind: 'route', ifindex: 9, dst: ip('0.0.0.0'), prefix: 1 }]);
  assert.equal(b.length, 44);
  assert.deepEqual([...b.subarray(16, 24)], [2, 1, 0, 0, 254, 3, 253, 1]);
});

test('a tunnel host route with a preferred source (ip route replace A/32 dev X src S), and its delete', () => {
  const b = encodeRtRequests([
    { kind: 'route', ifindex: 12, dst: ip('10.77.0.9'), prefix: 32, src: ip('10.77.0.1') },
    { kind: 'route-del', ifindex: 12, dst: ip('10.77.0.9'), prefix: 32 },
  ]);
  assert.equal(b.length, 52 + 44);
  assert.deepEqual([u32(b, 0), u16(b, 4), u16(b, 6), u32(b, 8)], [52, 24, 0x505, 1]);
  assert.deepEqual([...b.subarray(16, 24)], [2, 32, 0, 0, 254, 3, 253, 1]);
  assert.deepEqual([u16(b, 28), u16(b, 30), b.subarray(32, 36).join('.')], [8, 1, '10.77.0.9']);
  assert.deepEqual([u16(b, 38), u32(b, 40)], [4, 12]);
  // RTA_PREFSRC (7)
  assert.deepEqual([u16(b, 44), u16(b, 46), b.subarray(48, 52).join('.')], [8, 7, '10.77.0.1']);
  // RTM_DELROUTE (25), REQUEST|ACK only, seq 2; table main, protocol/scope/type "any" (0/255/0)
  const d = 52;
  assert.deepEqual([u32(b, d), u16(b, d + 4), u16(b, d + 6), u32(b, d + 8)], [44, 25, 0x5, 2]);
  assert.deepEqual([...b.subarray(d + 16, d + 24)], [2, 32, 0, 0, 254, 0, 255, 0]);
  assert.deepEqual([u16(b, d + 30), b.subarray(d + 32, d + 36).join('.'), u16(b, d + 38), u32(b, d + 40)], [1, '10.77.0.9', 4, 12]);
  assert.equal(describeRtRequest({ kind: 'route', ifindex: 12, dst: ip('10.77.0.9'), prefix: 32, src: ip('10.77.0.1') }, 'sgw-1'), 'ip route replace 10.77.0.9/32 dev sgw-1 src 10.77.0.1');
  assert.equal(describeRtRequest({ kind: 'route-del', ifindex: 12, dst: ip('10.77.0.9'), prefix: 32 }, 'sgw-1'), 'ip route del 10.77.0.9/32 dev sgw-1');
});

test('out-of-range values are refused before anything is built', () => {
  assert.throws(() => encodeRtRequests([{ kind: 'link', ifindex: 0, mtu: 1400, up: true }]), RangeError);
  assert.throws(() => encodeRtRequests([{ kind: 'link', ifindex: 1, mtu: 67, up: true }]), RangeError);
  assert.throws(() => encodeRtRequests([{ kind: 'link', ifindex: 1, mtu: 65536, up: true }]), RangeError);
  assert.throws(() => encodeRtRequests([{ kind: 'addr', ifindex: 1, address: 1, prefix: 33 }]), RangeError);
  assert.throws(() => encodeRtRequests([{ kind: 'route', ifindex: 1.5, dst: 1, prefix: 8 }]), RangeError);
  assert.throws(() => encodeRtRequests([{ kind: 'route', ifindex: 1, dst: 1, prefix: -1 }]), RangeError);
});

test('the requests read back as the ip(8) commands they stand for', () => {
  assert.equal(describeRtRequest({ kind: 'link', ifindex: 1, mtu: 1399, up: true }, 'tun0'), 'ip link set dev tun0 mtu 1399 up');
  assert.equal(describeRtRequest({ kind: 'addr', ifindex: 1, address: ip('10.1.2.3'), prefix: 24 }, 'tun0'), 'ip addr replace 10.1.2.3/24 dev tun0');
  assert.equal(describeRtRequest({ kind: 'route', ifindex: 1, dst: ip('10.0.0.0'), prefix: 8, gateway: ip('10.77.0.1') }, 'eth0'), 'ip route replace 10.0.0.0/8 via 10.77.0.1 dev eth0');
});

test('nlRequest/ifIndex refuse bad arguments (nothing is sent)', () => {
  const addon = loadAddon<{ nlRequest(b: unknown, n: unknown): number[]; ifIndex(n: unknown): number }>('sslgate_tun');
  assert.throws(() => addon.nlRequest('x', 1), TypeError);
  assert.throws(() => addon.nlRequest(Buffer.alloc(16), 0), TypeError);
  assert.throws(() => addon.nlRequest(Buffer.alloc(16), 257), TypeError);
  assert.throws(() => addon.nlRequest(Buffer.alloc(8), 1), TypeError);
  assert.throws(() => addon.nlRequest(Buffer.alloc(70000), 1), TypeError);
  assert.throws(() => addon.ifIndex(''), TypeError);
  assert.throws(() => addon.ifIndex('x'.repeat(16)), TypeError);
  assert.equal(addon.ifIndex('sg-no-such-dev'), 0);
  assert.ok(addon.ifIndex('lo') > 0);
});
