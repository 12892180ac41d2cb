/**
 * The in-namespace half of tun.test.ts. tun.test.ts creates a throwaway network namespace and
 * runs this file inside it with `ip netns exec`; every TUN, address and route made here dies
 * with the namespace. It prints one line `RESULT <json>`: one entry per step, so the parent can
 * report each step as its own test.
 *
 * It refuses to do anything outside a namespace: `node --test dist/test/` would otherwise pick
 * this file up and create interfaces on the host.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readlinkSync, statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { addrAdd, IpError, linkDel, linkSetUp, routeGet } from '../../src/os/ip.js';
import { adoptTun, createTunInterface, openTun, TunError, type TunDevice } from '../../src/os/tun.js';
import { execFileSync } from 'node:child_process';

export const CHILD_ENV = 'SGTUN_CHILD_NS';

const NET = '198.18.7';  // TUN A: 198.18.7.1/24; 198.18.7.2 is "the other side", routed into it
const NET_B = '198.18.8'; // TUN B (small slots): 198.18.8.1/24
const NET_O = '198.18.9'; // TUN O (offloads): 198.18.9.1/24
const NET_C = '198.18.10'; // TUN C (openTun with offloads, the client's): 198.18.10.1/24

// ---------------------------------------------------------------- packet helpers

function ipv4(a: string): number[] {
  return a.split('.').map(Number);
}

function csum16(buf: Buffer, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i + 1 < end; i += 2) sum += buf.readUInt16BE(i);
  if ((end - start) & 1) sum += buf[end - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Writes an IPv4/UDP packet with correct IP and UDP checksums at buf[off]; returns its length. */
function buildUdp(buf: Buffer, off: number, src: string, sport: number, dst: string, dport: number, payload: Buffer): number {
  const len = 20 + 8 + payload.length;
  buf.fill(0, off, off + 28);
  buf[off] = 0x45;
  buf.writeUInt16BE(len, off + 2);
  buf[off + 8] = 64; // TTL
  buf[off + 9] = 17; // UDP
  Buffer.from(ipv4(src)).copy(buf, off + 12);
  Buffer.from(ipv4(dst)).copy(buf, off + 16);
  buf.writeUInt16BE(~csum16(buf, off, off + 20) & 0xffff, off + 10);
  buf.writeUInt16BE(sport, off + 20);
  buf.writeUInt16BE(dport, off + 22);
  buf.writeUInt16BE(8 + payload.length, off + 24);
  payload.copy(buf, off + 28);
  // Pseudo-header: src, dst, zero+proto, UDP length.
  const pseudo = csum16(buf, off + 12, off + 20) + 17 + 8 + payload.length;
  const c = ~csum16(buf, off + 20, off + len, pseudo) & 0xffff;
  buf.writeUInt16BE(c === 0 ? 0xffff : c, off + 26);
  return len;
}

interface UdpSeen { dst: string; dport: number; payload: Buffer; totalLen: number }

/** Parses an IPv4/UDP packet (anything else, e.g. the kernel's IPv6 chatter, gives undefined). */
function parseUdp(p: Buffer): UdpSeen | undefined {
  if (p.length < 28 || p[0] !== 0x45 || p[9] !== 17) return undefined;
  return {
    dst: `${p[16]}.${p[17]}.${p[18]}.${p[19]}`,
    dport: p.readUInt16BE(22),
    payload: p.subarray(28, p.readUInt16BE(24) + 20),
    totalLen: p.readUInt16BE(2),
  };
}

function payloadFor(seq: number, size: number): Buffer {
  const b = Buffer.alloc(size, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
}

function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- steps

interface StepResult { name: string; ok: boolean; error?: string; info?: Record<string, unknown> }
const results: StepResult[] = [];

async function step(name: string, fn: () => Promise<Record<string, unknown> | void>): Promise<void> {
  try {
    const info = await fn();
    results.push({ name, ok: true, ...(info ? { info } : {}) });
  } catch (e) {
    results.push({ name, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

/** Sends datagrams to NET.2 (routed into TUN A) all in one tick, so they queue up in the TUN. */
function blast(sock: dgram.Socket, first: number, n: number, port: number, size: (seq: number) => number): void {
  for (let seq = first; seq < first + n; seq++) sock.send(payloadFor(seq, size(seq)), port, `${NET}.2`);
}

async function main(): Promise<void> {
  let tun: TunDevice | undefined;
  // Per-step packet sink: the device keeps one handler, the steps swap what it feeds.
  let sink: (p: Buffer, slab: Buffer, slotStart: number, count: number, i: number) => void = () => {};
  const batches: number[] = [];

  await step('open: kernel numbers a name pattern; a second non-multiqueue open is refused', async () => {
    tun = openTun({ name: 'sgt%d', batch: 16 });
    assert.match(tun.name, /^sgt\d+$/);
    assert.equal(tun.headroom, 64);
    assert.equal(tun.slot, 64 + 2048);
    assert.throws(() => openTun({ name: tun!.name }), (e: unknown) => e instanceof TunError && e.code === 'EBUSY');
    assert.throws(() => openTun({ name: 'x'.repeat(16) }), RangeError);
    return { name: tun.name };
  });
  if (!tun) return;
  const dev = tun;

  await step('ip: address, link up and route lookup; errors carry command and stderr', async () => {
    await linkSetUp('lo');
    await addrAdd(dev.name, `${NET}.1/24`);
    await linkSetUp(dev.name, 1500);
    assert.deepEqual(await routeGet(`${NET}.2`), { dev: dev.name, src: `${NET}.1`, type: 'unicast' });
    await assert.rejects(addrAdd('sgnosuchdev', `${NET_B}.1/24`), (e: unknown) =>
      e instanceof IpError && /^ip addr add/.test(e.command) && /Cannot find device/.test(e.stderr));
  });

  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, `${NET}.1`, r));

  const onBatch = (slab: Buffer, lens: Uint32Array, count: number): void => {
    batches.push(count);
    for (let i = 0; i < count; i++) {
      const start = i * dev.slot + dev.headroom;
      sink(slab.subarray(start, start + lens[i]!), slab, i * dev.slot, count, i);
    }
  };
  dev.start(onBatch);

  await step('read: datagrams routed into the TUN arrive as IPv4 packets, in batches, after the headroom', async () => {
    const N = 200;
    const seen = new Map<number, number>();
    let headroomChecked = 0;
    let headroomMarked = false;
    sink = (p, slab, slotStart, count, i) => {
      const u = parseUdp(p);
      if (!u || u.dport !== 5000) return;
      assert.equal(u.dst, `${NET}.2`);
      assert.equal(u.totalLen, p.length, 'lens[i] is the IP total length');
      const seq = u.payload.readUInt32BE(0);
      assert.equal(u.payload.length, 4 + ((seq * 37) % 1397));
      assert.ok(u.payload.subarray(4).every((b) => b === (seq & 0xff)), 'payload intact');
      seen.set(seq, p.length);
      // Reads must start exactly at the headroom and never write into it: mark every slot's
      // headroom once, then check the marks survive later reads.
      if (!headroomMarked) {
        for (let s = 0; s < 16; s++) slab.fill(0xa5, s * dev.slot, s * dev.slot + dev.headroom);
        headroomMarked = true;
      } else {
        assert.ok(slab.subarray(slotStart, slotStart + dev.headroom).every((b) => b === 0xa5), 'headroom untouched');
        headroomChecked++;
      }
      assert.ok(count <= 16 && i < count);
    };
    batches.length = 0;
    blast(sock, 0, N, 5000, (seq) => 4 + ((seq * 37) % 1397));
    await waitFor(`${N} packets (got ${seen.size})`, () => seen.size === N);
    const maxBatch = Math.max(...batches);
    assert.ok(maxBatch > 1, `reads were batched (max batch ${maxBatch})`);
    assert.ok(maxBatch <= 16, 'batch limit respected');
    assert.ok(headroomChecked > 0);
    return { packets: N, batches: batches.length, maxBatch };
  });

  await step('read: stop() holds packets in the kernel queue, start() delivers them', async () => {
    let got = 0;
    sink = (p) => { if (parseUdp(p)?.dport === 5001) got++; };
    dev.stop();
    blast(sock, 0, 20, 5001, () => 100);
    await sleep(100);
    assert.equal(got, 0, 'nothing delivered while stopped');
    dev.start(onBatch);
    await waitFor('20 queued packets', () => got === 20);
  });

  await step('read: an exception in the batch callback reaches uncaughtException and reading goes on', async () => {
    let got = 0;
    let thrown = false;
    const caught: unknown[] = [];
    const onUncaught = (e: unknown): void => { caught.push(e); };
    process.on('uncaughtException', onUncaught);
    try {
      sink = (p) => {
        if (parseUdp(p)?.dport !== 5002) return;
        got++;
        if (!thrown) { thrown = true; throw new Error('boom from onBatch'); }
      };
      blast(sock, 0, 1, 5002, () => 10);
      await waitFor('the throwing batch', () => caught.length === 1);
      assert.match(String((caught[0] as Error).message), /boom from onBatch/);
      blast(sock, 1, 5, 5002, () => 10);
      await waitFor('packets after the exception', () => got === 6);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  await step('read: a packet longer than slot - headroom is dropped and counted, not cut', async () => {
    const small = openTun({ name: 'sgsmall', slot: 64 + 256, batch: 4 });
    try {
      await addrAdd(small.name, `${NET_B}.1/24`);
      await linkSetUp(small.name, 1500);
      const lens: number[] = [];
      small.start((_slab, l, count) => {
        for (let i = 0; i < count; i++) lens.push(l[i]!);
      });
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, `${NET_B}.1`, r));
      s.send(Buffer.alloc(600), 5003, `${NET_B}.2`);
      s.send(Buffer.alloc(256 - 28), 5003, `${NET_B}.2`); // fits exactly: must not count as cut
      s.send(Buffer.alloc(100), 5003, `${NET_B}.2`);
      await waitFor('the small packet', () => lens.includes(128));
      s.close();
      assert.equal(small.truncated, 1);
      assert.ok(lens.includes(256), 'an exactly fitting packet is delivered');
      assert.ok(lens.every((l) => l <= 256), `only whole packets delivered: ${lens.join(',')}`);
    } finally {
      small.close();
    }
  });

  // Packets written into the TUN come "from" NET.2 to a socket bound on our NET.1 address.
  const rx = dgram.createSocket('udp4');
  const received: { payload: Buffer; from: string; port: number }[] = [];
  rx.on('message', (msg, rinfo) => received.push({ payload: msg, from: rinfo.address, port: rinfo.port }));
  await new Promise<void>((r) => rx.bind(6000, `${NET}.1`, r));

  await step('write: a crafted IPv4/UDP packet reaches a local socket; junk is refused without throwing', async () => {
    received.length = 0;
    const buf = Buffer.alloc(2000);
    const len = buildUdp(buf, 0, `${NET}.2`, 7000, `${NET}.1`, 6000, payloadFor(1, 300));
    assert.equal(dev.write(buf.subarray(0, len)), true);
    // Same packet from the middle of a bigger buffer, without making a view.
    const off = 333;
    buildUdp(buf, off, `${NET}.2`, 7000, `${NET}.1`, 6000, payloadFor(2, 50));
    assert.equal(dev.write(buf, off, 28 + 50), true);
    const junk = Buffer.alloc(40); // version nibble 0: the TUN rejects it with EINVAL
    assert.equal(dev.write(junk), false);
    assert.throws(() => dev.write(buf, 1990, 20), RangeError);
    await waitFor('2 datagrams', () => received.length === 2);
    assert.deepEqual(received.map((r) => [r.from, r.port, r.payload.readUInt32BE(0), r.payload.length]),
      [[`${NET}.2`, 7000, 1, 300], [`${NET}.2`, 7000, 2, 50]]);
  });

  await step('writeBatch: one packet per write; a bad packet drops only itself', async () => {
    received.length = 0;
    const K = 32;
    const slab = Buffer.alloc(K * 200 + 64);
    const offsets = new Uint32Array(K + 1);
    const lens = new Uint32Array(K + 1);
    let off = 5;
    for (let i = 0; i < K; i++) {
      offsets[i] = off;
      lens[i] = buildUdp(slab, off, `${NET}.2`, 7001, `${NET}.1`, 6000, payloadFor(100 + i, 20 + i * 3));
      off += lens[i]! + 11; // gaps between packets: offsets really are honoured
    }
    slab[offsets[5]!] = 0x05; // corrupt packet 5's version nibble
    const written = dev.writeBatch(slab, offsets, lens, K);
    assert.equal(written, K - 1);
    // An entry past the end of the slab is skipped, never read.
    offsets[K] = slab.length - 10; lens[K] = 100;
    assert.equal(dev.writeBatch(slab, offsets.subarray(K), lens.subarray(K), 1), 0);
    await waitFor(`${K - 1} datagrams`, () => received.length === K - 1);
    await sleep(50);
    assert.equal(received.length, K - 1);
    const seqs = received.map((r) => r.payload.readUInt32BE(0)).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: K }, (_, i) => 100 + i).filter((s) => s !== 105));
    for (const r of received) assert.equal(r.payload.length, 20 + (r.payload.readUInt32BE(0) - 100) * 3);
  });

  await step('multiQueue: the same name opens twice', async () => {
    const q0 = openTun({ name: 'sgmq%d', multiQueue: true });
    try {
      const q1 = openTun({ name: q0.name, multiQueue: true });
      assert.equal(q1.name, q0.name);
      assert.notEqual(q1.fd, q0.fd);
      q1.close();
    } finally {
      q0.close();
    }
  });

  await step('read: deleting the interface ends reading with one onError, not a busy loop', async () => {
    const gone = openTun({ name: 'sgdel' });
    try {
      const errors: TunError[] = [];
      gone.start(() => {}, (e) => errors.push(e));
      await linkSetUp(gone.name);
      await linkDel(gone.name);
      await waitFor('onError', () => errors.length > 0);
      await sleep(50);
      assert.equal(errors.length, 1);
      // The kernel reports EBADFD on the read; when the poller only sees error wake-ups with
      // nothing to read (a busy machine coalesces them), its backstop reports EIO instead.
      assert.ok(['EBADFD', 'EIO'].includes(errors[0]!.code), `error code ${errors[0]!.code}`);
      assert.equal(gone.write(Buffer.from([0x45, 0, 0, 20])), false, 'writes fail quietly');
    } finally {
      gone.close();
    }
  });

  await step('worker: a thread that exits with its poller still running shuts down cleanly', async () => {
    // The addon's async cleanup hook must close the uv handle, or Node aborts on worker teardown.
    const tunUrl = new URL('../../src/os/tun.js', import.meta.url).href;
    const w = new Worker(`
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(tunUrl)}).then(({ openTun }) => {
        const t = openTun({ name: 'sgwk%d' });
        t.start(() => {});
        parentPort.postMessage(t.name);
        setTimeout(() => process.exit(7), 20);
      });`, { eval: true });
    const names: unknown[] = [];
    w.on('message', (m) => names.push(m));
    const code = await new Promise((resolve, reject) => { w.once('exit', resolve); w.once('error', reject); });
    assert.equal(code, 7);
    assert.match(String(names[0]), /^sgwk\d+$/);
  });

  await step('offload: a vnet-header TUN takes writes (single and batch) and cuts USO super-packets to the MTU', async () => {
    const h = createTunInterface('sgo%d', false, true);
    assert.ok((h.offload & 3) === 3, `TUN_F_CSUM|TUN_F_TSO4 expected, got 0x${h.offload.toString(16)}`);
    const o = adoptTun(h.fd, h.name, { vnetHdr: true, mtu: 1400, batch: 8 });
    try {
      await addrAdd(o.name, `${NET_O}.1/24`);
      await linkSetUp(o.name, 1400);
      const got: Buffer[] = [];
      o.start((slab, lens, count) => {
        for (let i = 0; i < count; i++) {
          const p = slab.subarray(i * o.slot + o.headroom, i * o.slot + o.headroom + lens[i]!);
          if (parseUdp(p)?.dport === 5009) got.push(Buffer.from(p));
        }
      });
      // Writes: the addon puts the virtio header in front; the packets reach the socket.
      const orx = dgram.createSocket('udp4');
      const oreceived: Buffer[] = [];
      orx.on('message', (m) => oreceived.push(m));
      await new Promise<void>((r) => orx.bind(6009, `${NET_O}.1`, r));
      const buf = Buffer.alloc(4000);
      const l1 = buildUdp(buf, 0, `${NET_O}.2`, 7009, `${NET_O}.1`, 6009, payloadFor(1, 1000));
      assert.equal(o.write(buf, 0, l1), true);
      const l2 = buildUdp(buf, 2000, `${NET_O}.2`, 7009, `${NET_O}.1`, 6009, payloadFor(2, 500));
      assert.equal(o.writeBatch(buf, new Uint32Array([0, 2000]), new Uint32Array([l1, l2]), 2), 2);
      await waitFor('3 datagrams written through the vnet-header TUN', () => oreceived.length === 3);
      orx.close();
      // Reads: 20 datagrams of 1300 bytes sent with UDP_SEGMENT leave as one USO super-packet
      // (batch 8: the cut continues over three JS calls); each comes out whole with its checksum.
      const py = "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.setsockopt(17,103,1300);" +
        `s.sendto(b''.join(bytes([i])*1300 for i in range(20)),('${NET_O}.2',5009))`;
      execFileSync('python3', ['-c', py]);
      await waitFor('20 segments', () => got.length === 20);
      got.forEach((p, i) => {
        assert.equal(p.length, 1328);
        assert.equal(csum16(p, 0, 20), 0xffff, 'IPv4 header checksum');
        const pseudo = csum16(p, 12, 20) + 17 + (p.length - 20);
        assert.equal(csum16(p, 20, p.length, pseudo), 0xffff, 'UDP checksum');
        assert.ok(p.subarray(28).every((b) => b === i), `datagram ${i} intact and in order`);
      });
      const c = o.offloadCounters;
      assert.equal(c.superPackets, 1);
      assert.equal(c.segments, 20);
      assert.equal(c.malformed, 0);
      return { name: o.name, offload: h.offload };
    } finally {
      o.close();
    }
  });

  await step('offload on an openTun device (the client TUN): vnetHdr, and setMtu moves the limit super-packets are cut at', async () => {
    const o = openTun({ name: 'sgc%d', offload: true, batch: 8 });
    try {
      assert.equal(o.vnetHdr, true, 'openTun({ offload: true }) gave a plain TUN');
      await addrAdd(o.name, `${NET_C}.1/24`);
      await linkSetUp(o.name, 1400);
      o.setMtu(1400);
      let got = 0;
      o.start((slab, lens, count) => {
        for (let i = 0; i < count; i++) {
          const p = slab.subarray(i * o.slot + o.headroom, i * o.slot + o.headroom + lens[i]!);
          if (parseUdp(p)?.dport === 5010) got++;
        }
      });
      // 5 datagrams of 1300 bytes sent with UDP_SEGMENT: one USO super-packet of 1328-byte segments.
      const send = (): void => {
        const py = "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.setsockopt(17,103,1300);" +
          `s.sendto(b''.join(bytes([i])*1300 for i in range(5)),('${NET_C}.2',5010))`;
        execFileSync('python3', ['-c', py]);
      };
      send();
      await waitFor('5 segments at MTU 1400', () => got === 5);
      // Below the segment size: a UDP super-packet cannot be cut smaller (its datagrams would
      // change), so the next one is dropped as malformed, which shows the new limit is in use.
      o.setMtu(1200);
      send();
      await waitFor('the super-packet over MTU 1200 dropped', () => o.offloadCounters.malformed === 1);
      o.setMtu(1400);
      send();
      await waitFor('5 more segments at MTU 1400 again', () => got === 10);
      assert.throws(() => o.setMtu(-1), RangeError);
      const c = o.offloadCounters;
      assert.equal(c.superPackets, 2);
      return { name: o.name, segments: c.segments, malformed: c.malformed };
    } finally {
      o.close();
    }
  });

  await step('close: twice is harmless; start() and writes afterwards are refused', async () => {
    sock.close();
    rx.close();
    dev.close();
    dev.close();
    assert.throws(() => dev.start(() => {}), (e: unknown) => e instanceof TunError && e.code === 'ERR_TUN_CLOSED');
    assert.equal(dev.write(Buffer.alloc(28, 0x45)), false);
    assert.equal(dev.writeBatch(Buffer.alloc(28), new Uint32Array(1), new Uint32Array([28]), 1), 0);
  });
}

/** True only inside the namespace the parent named: /run/netns/<ns> is a bind mount of its nsfs inode. */
function inNamedNetns(ns: string): boolean {
  try {
    const self = /^net:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/net'))?.[1];
    return self !== undefined && BigInt(self) === statSync(`/run/netns/${ns}`, { bigint: true }).ino;
  } catch {
    return false;
  }
}

const ns = process.env[CHILD_ENV];
if (ns) {
  if (!inNamedNetns(ns)) {
    console.error(`tun-child: not inside network namespace ${ns}; refusing to create interfaces`);
    process.exit(2);
  }
  main().then(
    () => { console.log(`RESULT ${JSON.stringify(results)}`); process.exit(0); },
    (e: unknown) => { console.error(e); console.log(`RESULT ${JSON.stringify(results)}`); process.exit(1); },
  );
}
