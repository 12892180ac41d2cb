/**
 * Batched UDP receive (native/udp_rx.c, os/udp-rx-batch.ts): the pure layout of a recvmmsg batch
 * (GRO split, slab offsets, drops) with garbage, the GRO cmsg parser with cut and forged control
 * data, and the real kernel path on loopback: GSO trains sent with UDP_SEGMENT arrive at a
 * UDP_GRO socket as one message and come out as the original datagrams; with GRO off, and
 * through dgram when batching is off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { nativeDtlsAddon } from '../../src/os/dtls-record-addon.js';
import { udpRxAddon, UdpBatchReceiver, enlargeSocketBuffers, ipv4FromInt } from '../../src/os/udp-rx-batch.js';
import { seeded } from '../helpers/seed.js';

const rx = udpRxAddon();
const skip = rx ? false : 'sslgate_dtls addon not built';
const MSG_TRUNC = 1;
const MSG_CTRUNC = 2;

function layout(msgs: Array<{ len: number; seg?: number; flags?: number }>, slot: number, room = 64 * 64) {
  const n = msgs.length;
  const lens = Uint32Array.from(msgs.map((m) => m.len));
  const segs = Int32Array.from(msgs.map((m) => m.seg ?? 0));
  const flags = Uint32Array.from(msgs.map((m) => m.flags ?? 0));
  const offs = new Uint32Array(room);
  const outLens = new Uint32Array(room);
  const [count, dropped] = rx!.rxLayout(lens, segs, flags, n, slot, offs, outLens, room);
  return { count, dropped, dgrams: Array.from({ length: count }, (_, i) => [offs[i]!, outLens[i]!]) };
}

test('layout: plain messages map to their slots', { skip }, () => {
  const r = layout([{ len: 100 }, { len: 1500 }, { len: 1 }], 2048);
  assert.deepEqual(r, { count: 3, dropped: 0, dgrams: [[0, 100], [2048, 1500], [4096, 1]] });
});

test('layout: a GRO train splits at the segment size, the last one shorter', { skip }, () => {
  const r = layout([{ len: 1400 * 3 + 17, seg: 1400 }, { len: 1400, seg: 1400 }, { len: 2800, seg: 1400 }], 65535);
  assert.equal(r.dropped, 0);
  assert.deepEqual(r.dgrams, [[0, 1400], [1400, 1400], [2800, 1400], [4200, 17], [65535, 1400], [131070, 1400], [132470, 1400]]);
});

test('layout: garbage is dropped and counted, never read past a slot', { skip }, () => {
  // cut by the kernel (larger than the slot), unreadable cmsg, empty, longer than the slot
  const r = layout(
    [{ len: 2048, flags: MSG_TRUNC }, { len: 300, seg: -1 }, { len: 0 }, { len: 4000 }, { len: 10, flags: MSG_CTRUNC }, { len: 50 }],
    2048,
  );
  // MSG_CTRUNC alone is judged by the cmsg parser (seg = -1); here seg = 0, so it passes.
  // An empty datagram is delivered (length 0), as dgram does: the listener counts it.
  assert.deepEqual(r, { count: 3, dropped: 3, dgrams: [[4096, 0], [8192, 10], [10240, 50]] });
  assert.deepEqual(layout([{ len: 0, seg: 1400 }], 2048).dgrams, [[0, 0]]);
  // a segment size larger than the message: one datagram
  assert.deepEqual(layout([{ len: 100, seg: 1400 }], 2048).dgrams, [[0, 100]]);
  // segment size 1 on a full slot: 65535 datagrams do not fit the output; the rest is counted
  const big = layout([{ len: 65535, seg: 1 }, { len: 5 }], 65535, 64);
  assert.equal(big.count, 64);
  assert.equal(big.dropped, 2);
  assert.ok(big.dgrams.every(([o, l], i) => o === i && l === 1));
});

test('layout: random garbage stays inside the slab', { skip }, () => {
  const rnd = seeded('udp-rx layout garbage');
  for (let round = 0; round < 2000; round++) {
    const slot = 1 + rnd.int(70000);
    const n = 1 + rnd.int(64);
    const msgs = Array.from({ length: n }, () => ({ len: rnd.int(80000), seg: rnd.int(3) === 0 ? -1 + rnd.int(3000) : 0, flags: rnd.int(4) }));
    const room = 1 + rnd.int(4096);
    const r = layout(msgs, slot, room);
    assert.ok(r.count <= room);
    for (const [o, l] of r.dgrams) {
      assert.ok(l <= slot, `length ${l} in slot ${slot}`);
      assert.ok(l > 0 || msgs[Math.floor(o / slot)]!.len === 0, 'only an empty message gives an empty datagram');
      const m = Math.floor(o / slot);
      assert.ok(m < n && o + l <= (m + 1) * slot && o + l <= m * slot + msgs[m]!.len, `datagram [${o}, +${l}) outside message ${m}`);
    }
  }
});

/** A control buffer with one cmsg: len, level, type (64-bit struct cmsghdr: size_t len, int, int), data. */
function cmsg(len: number, level: number, type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(16);
  head.writeBigUInt64LE(BigInt(len), 0);
  head.writeInt32LE(level, 8);
  head.writeInt32LE(type, 12);
  const pad = Buffer.alloc((8 - (data.length % 8)) % 8);
  return Buffer.concat([head, data, pad]);
}
const int32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};
const SOL_UDP = 17;
const UDP_GRO = 104;
const is64 = process.arch === 'x64' || process.arch === 'arm64';

test('GRO cmsg: segment size read; absent, cut, forged and zero handled', { skip: skip || (!is64 && 'cmsg layout of a 64-bit ABI') }, () => {
  assert.equal(rx!.groSegment(cmsg(20, SOL_UDP, UDP_GRO, int32(1400)), 0), 1400);
  assert.equal(rx!.groSegment(Buffer.alloc(0), 0), 0, 'no control data');
  assert.equal(rx!.groSegment(cmsg(20, 0, 8, int32(1)), 0), 0, 'another cmsg only (IP_PKTINFO-like)');
  assert.equal(rx!.groSegment(Buffer.concat([cmsg(20, 0, 8, int32(7)), cmsg(20, SOL_UDP, UDP_GRO, int32(1200))]), 0), 1200, 'second cmsg');
  assert.equal(rx!.groSegment(cmsg(20, SOL_UDP, UDP_GRO, int32(1400)), 1), -1, 'MSG_CTRUNC');
  assert.equal(rx!.groSegment(cmsg(17, SOL_UDP, UDP_GRO, int32(1400)), 0), -1, 'cmsg too short for its int');
  assert.equal(rx!.groSegment(cmsg(20, SOL_UDP, UDP_GRO, int32(0)), 0), -1, 'zero segment size');
  assert.equal(rx!.groSegment(cmsg(20, SOL_UDP, UDP_GRO, int32(-5)), 0), -1, 'negative segment size');
  assert.equal(rx!.groSegment(cmsg(4000, SOL_UDP, UDP_GRO, int32(1400)), 0), -1, 'cmsg_len past the buffer');
  assert.equal(rx!.groSegment(cmsg(3, SOL_UDP, UDP_GRO, int32(1400)), 0), -1, 'cmsg_len below the header');
  assert.equal(rx!.groSegment(cmsg(20, SOL_UDP, UDP_GRO, int32(1400)).subarray(0, 10), 0), 0, 'shorter than one header');
  const rnd = seeded('udp-rx cmsg garbage');
  for (let i = 0; i < 5000; i++) rx!.groSegment(rnd.bytes(rnd.int(200)), rnd.int(2)); // must not crash
});

// ---------------------------------------------------------------- real sockets on loopback

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

interface Got {
  from: string;
  data: Buffer;
}

/** Sends `dgrams` from `tx` to `port` with sendmmsg (GSO trains when `gso`) and collects `n` datagrams. */
async function exchange(receiver: (onDgram: (g: Got) => void) => () => void, dgrams: Buffer[], port: number, tx: Socket, gso: boolean) {
  const got: Got[] = [];
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const stop = receiver((g) => {
    got.push(g);
    if (got.length === dgrams.length) done();
  });
  const a = nativeDtlsAddon()!;
  const slot = 2048;
  const slab = Buffer.alloc(slot * dgrams.length);
  const offs = new Uint32Array(dgrams.length);
  const lens = new Uint32Array(dgrams.length);
  dgrams.forEach((d, i) => {
    d.copy(slab, i * slot);
    offs[i] = i * slot;
    lens[i] = d.length;
  });
  const fd = (tx as unknown as { [k: symbol]: { handle: { fd: number } } })[Object.getOwnPropertySymbols(tx).find((s) => s.description === 'state symbol')!]!.handle.fd;
  const flags = Uint32Array.of(gso ? 1 : 0);
  const sent = a.sendBatch(fd, slab, offs, lens, new Uint32Array(dgrams.length).fill(0x7f000001), new Uint32Array(dgrams.length).fill(port), dgrams.length, flags);
  assert.equal(sent, dgrams.length);
  await all;
  stop();
  return got;
}

function trainOf(rndLabel: string): Buffer[] {
  const rnd = seeded(rndLabel);
  // three trains of equal-sized datagrams (a short last one each), as a bulk flow's records
  const out: Buffer[] = [];
  for (const [size, n] of [[1337, 20], [700, 9], [1200, 30]] as const) {
    for (let i = 0; i < n; i++) out.push(rnd.bytes(i === n - 1 ? 1 + rnd.int(size) : size));
  }
  return out;
}

for (const gro of [true, false]) {
  test(`loopback: GSO trains in, the same datagrams out (GRO ${gro ? 'on' : 'off'})`, { skip }, async () => {
    const sock = await bound();
    const tx = await bound();
    try {
      const bufs = enlargeSocketBuffers(sock, 4 * 1024 * 1024);
      assert.ok(bufs && bufs.rcvbuf > 0);
      const r = UdpBatchReceiver.create(sock, { gro });
      assert.ok(r, 'receiver');
      assert.equal(r.gro, gro);
      sock.on('message', () => assert.fail('dgram must not read once the poller owns the socket'));
      const dgrams = trainOf(`udp-rx loopback ${gro}`);
      const got = await exchange(
        (on) => {
          r.start((slab, offs, lens, addrs, ports, count) => {
            for (let i = 0; i < count; i++) on({ from: `${ipv4FromInt(addrs[i]!)}:${ports[i]}`, data: Buffer.from(slab.subarray(offs[i]!, offs[i]! + lens[i]!)) });
          }, (e) => assert.fail(e));
          return () => r.close();
        },
        dgrams,
        sock.address().port,
        tx,
        true,
      );
      assert.deepEqual(got.map((g) => g.data), dgrams);
      assert.ok(got.every((g) => g.from === `127.0.0.1:${tx.address().port}`));
      const c = r.counters;
      assert.equal(c.datagrams, dgrams.length);
      assert.equal(c.dropped, 0);
      if (gro) assert.ok(c.groMessages > 0, 'the kernel kept at least one GSO train whole for the GRO socket');
      else assert.equal(c.groMessages, 0);
      assert.ok(c.reads >= 1 && c.reads <= dgrams.length);
    } finally {
      sock.close();
      tx.close();
    }
  });
}

test('loopback: batching off (SSLGATE_UDP_RX_BATCH=0) leaves dgram reading', { skip }, async () => {
  const sock = await bound();
  const tx = await bound();
  const saved = process.env['SSLGATE_UDP_RX_BATCH'];
  process.env['SSLGATE_UDP_RX_BATCH'] = '0';
  try {
    assert.equal(UdpBatchReceiver.create(sock), null);
    const dgrams = trainOf('udp-rx loopback dgram');
    const got = await exchange(
      (on) => {
        const h = (data: Buffer, ri: { address: string; port: number }) => on({ from: `${ri.address}:${ri.port}`, data });
        sock.on('message', h);
        return () => sock.off('message', h);
      },
      dgrams,
      sock.address().port,
      tx,
      true,
    );
    assert.deepEqual(got.map((g) => g.data), dgrams);
  } finally {
    if (saved === undefined) delete process.env['SSLGATE_UDP_RX_BATCH'];
    else process.env['SSLGATE_UDP_RX_BATCH'] = saved;
    sock.close();
    tx.close();
  }
});

test('an IPv6 socket is not taken over', { skip }, async () => {
  const s = createSocket('udp6');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '::1', resolve);
    });
  } catch {
    s.close();
    return; // no IPv6 loopback here: nothing to check
  }
  try {
    assert.equal(UdpBatchReceiver.create(s), null);
  } finally {
    s.close();
  }
});

test('gateway config: dtls.batch-receive defaults to true, takes true/false only', async () => {
  const { parseConfigText } = await import('../../src/gateway/config.js');
  const parse = (yaml: string) => parseConfigText(yaml, 'test.yaml', '/etc/sslgate', '/etc/sslgate/test.yaml');
  const base = 'network: { address: 10.20.0.1/24 }\ngroups: [ { name: Employees } ]\n';
  assert.equal(parse(base).dtls.batchReceive, true);
  assert.equal(parse(`${base}dtls: { batch-receive: false }\n`).dtls.batchReceive, false);
  assert.equal(parse(`${base}dtls: { batch-receive: true }\n`).dtls.batchReceive, true);
  assert.throws(() => parse(`${base}dtls: { batch-receive: 1 }\n`), /dtls\.batch-receive/);
});
