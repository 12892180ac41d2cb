/**
 * Source addresses on the DTLS socket (IP_PKTINFO, ip(7)), on loopback where every 127/8 address
 * is local: a socket bound to 0.0.0.0 learns each datagram's destination in the batched receive
 * (UdpBatchReceiver `pktinfo`, native/udp_rx.c), and UdpBatchSender `pktinfo` sends each sink's
 * datagrams from the sink's address (sendBatch's srcs, native/dtls_record.c), GSO runs included,
 * never mixing sources in one run. Without `pktinfo` nothing changes (routing picks 127.0.0.1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { UdpBatchSender, ipv4ToInt } from '../../src/os/udp-batch.js';
import { udpRxAddon, UdpBatchReceiver, enlargeSocketBuffers, ipv4FromInt } from '../../src/os/udp-rx-batch.js';
import { seeded } from '../helpers/seed.js';

const skip = udpRxAddon() && process.platform === 'linux' ? false : 'sslgate_dtls addon not built';

/** A bound socket with room for a whole test's burst (the default buffer drops some on loopback). */
async function bind(host: string): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, () => resolve());
  });
  enlargeSocketBuffers(s, 4 * 1024 * 1024);
  return s;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const gso of [true, false]) {
  test(`UdpBatchSender pktinfo (GSO ${gso ? 'on' : 'off'}): each sink's datagrams leave from its address, in order`, { skip }, async () => {
    const rx = await bind('0.0.0.0');
    const tx = await bind('0.0.0.0');
    const saved = process.env['SSLGATE_UDP_GSO'];
    try {
      if (!gso) process.env['SSLGATE_UDP_GSO'] = '0';
      const sender = UdpBatchSender.create(tx, { batch: 32, slot: 1600, pktinfo: true })!;
      assert.ok(sender);
      assert.equal(sender.pktinfo, true);
      const port = rx.address().port;
      // three sources: two "VIPs" and 0 (routing: 127.0.0.1), interleaved inside runs of equal
      // sizes, so a GSO run must break where the source changes
      const sources = ['127.0.0.2', '127.0.0.3', null];
      const sinks = sources.map((s) => sender.sinkFor('127.0.0.1', port, s === null ? 0 : ipv4ToInt(s))!);
      const rnd = seeded(`pktinfo sender ${gso}`);
      const want: Array<{ from: string; data: Buffer }> = [];
      const got: Array<{ from: string; data: Buffer }> = [];
      rx.on('message', (m, ri) => got.push({ from: ri.address, data: m }));
      for (let i = 0; i < 100; i++) {
        const k = rnd.int(10) < 7 ? 0 : 1 + rnd.int(2); // mostly runs from the first source
        const len = rnd.int(8) === 0 ? 1 + rnd.int(1400) : 1400;
        const d = rnd.bytes(len);
        want.push({ from: sources[k] ?? '127.0.0.1', data: d });
        if (i % 10 === 9) assert.ok(sender.queueCopy(sinks[k]!, d)); // the handshake/DPD path
        else {
          const at = sinks[k]!.reserve(len);
          assert.ok(at >= 0);
          d.copy(sinks[k]!.slab, at);
          sinks[k]!.commit(len);
        }
      }
      assert.equal(sender.queueCopy(sinks[0]!, Buffer.alloc(1601)), false, 'larger than a slot');
      await until(() => got.length === want.length).catch(() => assert.fail(`got ${got.length} of ${want.length} datagrams; sender ${JSON.stringify(sender.counters)}, first ${JSON.stringify(got.slice(0, 3).map((g) => g.from))}`));
      assert.deepEqual(got, want);
      assert.equal(sender.counters.viaDgram, 0);
      assert.equal(sender.gso, gso, 'GSO with an IP_PKTINFO cmsg is accepted');
    } finally {
      if (saved === undefined) delete process.env['SSLGATE_UDP_GSO'];
      else process.env['SSLGATE_UDP_GSO'] = saved;
      rx.close();
      tx.close();
    }
  });
}

test('UdpBatchSender without pktinfo ignores a sink address (routing picks the source)', { skip }, async () => {
  const rx = await bind('0.0.0.0');
  const tx = await bind('0.0.0.0');
  try {
    const sender = UdpBatchSender.create(tx)!;
    assert.equal(sender.pktinfo, false);
    const sink = sender.sinkFor('127.0.0.1', rx.address().port, ipv4ToInt('127.0.0.2'))!;
    const got: string[] = [];
    rx.on('message', (_m, ri) => got.push(ri.address));
    assert.ok(sender.queueCopy(sink, Buffer.from('x')));
    await until(() => got.length === 1);
    assert.deepEqual(got, ['127.0.0.1']);
  } finally {
    rx.close();
    tx.close();
  }
});

for (const gro of [true, false]) {
  test(`UdpBatchReceiver pktinfo (GRO ${gro ? 'on' : 'off'}): each datagram comes with the address it was sent to`, { skip }, async () => {
    const sock = await bind('0.0.0.0');
    const tx = await bind('0.0.0.0');
    try {
      const r = UdpBatchReceiver.create(sock, { gro, pktinfo: true });
      assert.ok(r);
      assert.equal(r.pktinfo, true);
      const port = sock.address().port;
      const rnd = seeded(`pktinfo receiver ${gro}`);
      // Sent in GSO trains (so GRO may keep them whole) to two local addresses in turn.
      const sender = UdpBatchSender.create(tx, { batch: 64, slot: 1600 })!;
      const dests = ['127.0.0.7', '127.0.0.8'];
      const sinks = dests.map((d) => sender.sinkFor(d, port)!);
      const want: Array<{ to: string; data: Buffer }> = [];
      for (let run = 0; run < 6; run++) {
        const k = run % 2;
        for (let i = 0; i < 10; i++) {
          const d = rnd.bytes(i === 9 ? 1 + rnd.int(1200) : 1200);
          want.push({ to: dests[k]!, data: d });
          assert.ok(sender.queueCopy(sinks[k]!, d));
        }
      }
      const got: Array<{ to: string; data: Buffer }> = [];
      r.start(
        (slab, offs, lens, _addrs, _ports, count, locals) => {
          assert.ok(locals, 'locals with pktinfo');
          for (let i = 0; i < count; i++) got.push({ to: ipv4FromInt(locals[i]!), data: Buffer.from(slab.subarray(offs[i]!, offs[i]! + lens[i]!)) });
        },
        (e) => assert.fail(e),
      );
      sender.flush();
      await until(() => got.length === want.length);
      r.close();
      // Per destination the order holds (the two flows may interleave on receive).
      for (const d of dests) assert.deepEqual(got.filter((g) => g.to === d), want.filter((w) => w.to === d));
      assert.equal(r.counters.dropped, 0);
    } finally {
      sock.close();
      tx.close();
    }
  });
}

test('UdpBatchReceiver without pktinfo passes no locals', { skip }, async () => {
  const sock = await bind('0.0.0.0');
  const tx = await bind('127.0.0.1');
  try {
    const r = UdpBatchReceiver.create(sock)!;
    assert.equal(r.pktinfo, false);
    let seen: Uint32Array | null | undefined;
    r.start((_s, _o, _l, _a, _p, _c, locals) => void (seen = locals), (e) => assert.fail(e));
    tx.send(Buffer.from('x'), sock.address().port, '127.0.0.1');
    await until(() => seen !== undefined);
    r.close();
    assert.equal(seen, null);
  } finally {
    sock.close();
    tx.close();
  }
});

test('UdpBatchSender pktinfo: a source that is not local (a VIP gone to another node) loses its datagrams, and GSO stays on for the others', { skip }, async () => {
  const rx = await bind('0.0.0.0');
  const tx = await bind('0.0.0.0');
  try {
    const sender = UdpBatchSender.create(tx, { batch: 64, slot: 1600, pktinfo: true })!;
    const port = rx.address().port;
    // 192.0.2.1 (TEST-NET-1) is no address of this host: the kernel's route lookup refuses it as
    // a source (ENETUNREACH, ip_route_output_key_hash_rcu), which sendBatch counts as that one
    // message refused, not as GSO unsupported (that is EIO / EINVAL / ENOPROTOOPT)
    const gone = sender.sinkFor('127.0.0.1', port, ipv4ToInt('192.0.2.1'))!;
    const here = sender.sinkFor('127.0.0.1', port, ipv4ToInt('127.0.0.2'))!;
    const got: Array<{ from: string; len: number }> = [];
    rx.on('message', (m, ri) => got.push({ from: ri.address, len: m.length }));
    const gso = sender.gso;
    for (let i = 0; i < 8; i++) assert.ok(sender.queueCopy(gone, Buffer.alloc(1000, 1))); // a GSO run
    for (let i = 0; i < 8; i++) assert.ok(sender.queueCopy(here, Buffer.alloc(1000, 2)));
    sender.flush();
    await until(() => got.length >= 8);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, Array.from({ length: 8 }, () => ({ from: '127.0.0.2', len: 1000 })));
    assert.equal(sender.gso, gso, 'GSO was not turned off by the refused source');
    assert.equal(sender.counters.viaDgram, 0);
  } finally {
    rx.close();
    tx.close();
  }
});
