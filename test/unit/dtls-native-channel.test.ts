/**
 * DtlsChannel's data path after 'established' (src/tunnel/dtls-channel.ts): a gateway channel
 * and a client channel over an in-memory link, in PSK, DTLS 1.2 resume and DTLS 0.9 modes.
 *   - packets both ways, delivered as (buffer, start, end) with the exact bytes;
 *   - data records continue the endpoint's sequence numbers and never repeat one, also when the
 *     endpoint retransmits its last flight after the switch (re-sealed) and for close_notify;
 *   - replayed and forged records are dropped and counted;
 *   - DPD request answered with the same length; close_notify closes the peer;
 *   - the batched sink (DatagramSink) is used for data records when given.
 */
import assert from 'node:assert/strict';
import { seeded } from '../helpers/seed.js';
import { test } from 'node:test';
import {
  DTLS0_9,
  DTLS1_2,
  DtlsClient,
  DtlsServer,
  SuiteId,
  type DtlsClientOptions,
  type DtlsServerOptions,
  type DtlsTrafficKeys,
} from '../../src/dtls/index.js';
import { createRecordOpener, createRecordSealer } from '../../src/os/dtls-record-addon.js';
import type { DatagramSink } from '../../src/os/udp-batch.js';
import { DtlsChannel, type DtlsCloseReason } from '../../src/tunnel/dtls-channel.js';

// Keys and payloads from the logged test seed (test/helpers/seed.ts): a failure replays.
const rng = seeded('dtls-native-channel');
const randomBytes = (n: number): Buffer => rng.bytes(n);

interface Side {
  channel: DtlsChannel;
  packets: Buffer[];
  closed: DtlsCloseReason[];
  established: boolean;
  /** every datagram this side put on the wire */
  sent: Buffer[];
}

interface Pair {
  gw: Side;
  cl: Side;
  /** return false to drop a datagram */
  filter: (from: 'gw' | 'cl', d: Buffer) => boolean;
  sinkUsed: number;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * borrowedGw: the gateway receives as with batched receive (os/udp-rx-batch.ts), through
 * handleDatagramAt on a shared slab at an offset, and the slab is scribbled over right after each
 * call: anything the channel or its endpoint kept as a view of it would be garbage afterwards.
 */
function makePair(client: DtlsClientOptions, server: DtlsServerOptions, withSink = false, borrowedGw = false): Pair {
  const pair = { filter: () => true, sinkUsed: 0 } as unknown as Pair;
  const rxSlab = Buffer.alloc(8192);
  const deliver = (to: () => Side, from: 'gw' | 'cl') => (d: Buffer): void => {
    const copy = Buffer.from(d);
    (from === 'gw' ? pair.gw : pair.cl).sent.push(copy);
    if (!pair.filter(from, copy)) return;
    if (borrowedGw && from === 'cl') {
      setImmediate(() => {
        const at = 1 + rng.int(rxSlab.length - copy.length - 1);
        copy.copy(rxSlab, at);
        pair.gw.channel.handleDatagramAt(rxSlab, at, at + copy.length);
        rxSlab.fill(0xa5);
      });
      return;
    }
    setImmediate(() => to().channel.handleDatagram(Buffer.from(copy)));
  };
  // A sink that collects datagrams in its slab and flushes them in a microtask, like UdpBatchSender.
  let sink: DatagramSink | null = null;
  if (withSink) {
    const slab = Buffer.alloc(4096);
    let queued = false;
    sink = {
      slab,
      reserve: (len) => (len <= slab.length ? 0 : -1),
      commit: (len) => {
        assert.equal(queued, false, 'one datagram per slot in this fake');
        pair.sinkUsed++;
        deliver(() => pair.cl, 'gw')(slab.subarray(0, len));
      },
    };
  }
  const side = (ep: DtlsClient | DtlsServer, role: 'client' | 'gateway', send: (d: Buffer) => void, s: DatagramSink | null): Side => {
    const me: Side = { packets: [], closed: [], established: false, sent: [] } as unknown as Side;
    me.channel = new DtlsChannel({
      endpoint: ep,
      role,
      send,
      dpd: 0,
      keepalive: 0,
      onPacket: (buf, start, end) => me.packets.push(Buffer.from(buf.subarray(start, end))),
      onEstablished: () => {
        me.established = true;
      },
      onClose: (why) => me.closed.push(why),
      sink: s,
    });
    return me;
  };
  pair.gw = side(new DtlsServer(server), 'gateway', deliver(() => pair.cl, 'gw'), sink);
  pair.cl = side(new DtlsClient(client), 'client', deliver(() => pair.gw, 'cl'), null);
  pair.gw.sent = [];
  pair.cl.sent = [];
  return pair;
}

/** retransmitMs: short only where a test wants retransmissions (a loaded machine makes spurious ones). */
function pskOptions(suite: number, retransmitMs = 2000): [DtlsClientOptions, DtlsServerOptions] {
  const psk = randomBytes(32);
  const appId = randomBytes(32);
  const fast = { initialRetransmitMs: retransmitMs };
  return [
    { role: 'client', mode: 'psk', psk, appId, ...fast },
    { role: 'server', mode: 'psk', psk, appId, suites: [suite], ...fast },
  ];
}

function resumeOptions(version: typeof DTLS0_9 | typeof DTLS1_2, suite: number): [DtlsClientOptions, DtlsServerOptions] {
  const common = { mode: 'resume' as const, version, suite, sessionId: randomBytes(32), masterSecret: randomBytes(48), initialRetransmitMs: 2000 };
  return [{ role: 'client', ...common }, { role: 'server', ...common }];
}

/** (epoch, seq) of every record in the datagrams. */
function recordIds(dgrams: Buffer[]): string[] {
  const ids: string[] = [];
  for (const d of dgrams) {
    for (let off = 0; off + 13 <= d.length; off += 13 + d.readUInt16BE(off + 11)) {
      ids.push(`${d.readUInt16BE(off + 3)}:${d.readUIntBE(off + 5, 6)}`);
    }
  }
  return ids;
}

function assertUniqueSeqs(dgrams: Buffer[], who: string): void {
  const ids = recordIds(dgrams).filter((id) => !id.startsWith('0:'));
  assert.equal(new Set(ids).size, ids.length, `${who} reused an epoch-1 sequence number: ${ids.join(' ')}`);
}

const MODES: Array<{ name: string; opts: () => [DtlsClientOptions, DtlsServerOptions] }> = [
  { name: 'PSK AES-256-GCM', opts: () => pskOptions(SuiteId.TLS_PSK_WITH_AES_256_GCM_SHA384) },
  { name: 'PSK ChaCha20-Poly1305', opts: () => pskOptions(SuiteId.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256) },
  { name: 'PSK AES-128-CBC-SHA', opts: () => pskOptions(SuiteId.TLS_PSK_WITH_AES_128_CBC_SHA) },
  { name: 'resume DTLS1.2 AES-256-GCM', opts: () => resumeOptions(DTLS1_2, SuiteId.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) },
  { name: 'resume DTLS0.9 AES-128-SHA', opts: () => resumeOptions(DTLS0_9, SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA) },
  { name: 'resume DTLS0.9 AES-256-SHA', opts: () => resumeOptions(DTLS0_9, SuiteId.TLS_RSA_WITH_AES_256_CBC_SHA) },
];

function packet(i: number, len = 60 + ((i * 37) % 1300)): Buffer {
  const b = randomBytes(len);
  b[0] = 0x45;
  return b;
}

for (const mode of MODES) {
  test(`${mode.name}: packets both ways through the channel data path, unique sequence numbers, close_notify`, async () => {
    const [c, s] = mode.opts();
    const p = makePair(c, s, true);
    p.cl.channel.start();
    await until(() => p.gw.established && p.cl.established, 'both established');
    const keysBefore = p.gw.channel.endpoint.exportTrafficKeys()!;
    const up: Buffer[] = [];
    const down: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      const a = packet(i);
      const b = packet(i + 1000);
      up.push(a);
      down.push(b);
      // The packet sits inside a bigger buffer, as in the TUN slab.
      const slab = Buffer.concat([randomBytes(64), a, randomBytes(30)]);
      assert.ok(p.cl.channel.sendPacket(slab, 64, a.length));
      assert.ok(p.gw.channel.sendPacket(Buffer.concat([randomBytes(3), b]), 3, b.length));
    }
    await until(() => p.gw.packets.length === 50 && p.cl.packets.length === 50, 'all packets');
    assert.deepEqual(p.gw.packets, up);
    assert.deepEqual(p.cl.packets, down);
    assert.equal(p.gw.channel.counters.rxPackets, 50);
    assert.equal(p.gw.channel.counters.txPackets, 50);
    assert.equal(p.sinkUsed, 50, 'gateway data records went through the sink');
    // The endpoint's own write counter was not used for data: the channel numbered the records.
    assert.equal(p.gw.channel.endpoint.exportTrafficKeys()!.nextWriteSeq, keysBefore.nextWriteSeq);

    p.gw.channel.close('test');
    await until(() => p.cl.closed.length === 1, 'client sees close_notify');
    assert.deepEqual(p.cl.closed[0], { kind: 'peer-closed' });
    assert.deepEqual(p.gw.closed[0], { kind: 'local', text: 'test' });
    assertUniqueSeqs(p.gw.sent, 'gateway');
    assertUniqueSeqs(p.cl.sent, 'client');
    assert.equal(p.gw.channel.counters.drops, 0, `gateway drops: ${p.gw.channel.counters.lastDrop}`);
  });
}

test('PSK: the gateway retransmits its last flight after switching to the channel data path (re-sealed, no repeated sequence number)', async () => {
  const [c, s] = pskOptions(SuiteId.TLS_PSK_WITH_AES_256_GCM_SHA384, 30);
  const p = makePair(c, s);
  // Lose the gateway's first final flight (ChangeCipherSpec + Finished) and the data sent with it.
  let dropping = true;
  p.filter = (from, d) => {
    if (from === 'gw' && dropping && recordIds([d]).some((id) => id.startsWith('1:'))) return false;
    return true;
  };
  p.cl.channel.start();
  await until(() => p.gw.established, 'gateway established');
  assert.equal(p.cl.established, false);
  for (let i = 0; i < 5; i++) p.gw.channel.sendPacket(packet(i, 100), 0, 100); // lost
  dropping = false;
  // The client retransmits its flight; the gateway's endpoint answers with its last flight again.
  await until(() => p.cl.established, 'client established after the retransmission');
  const b = packet(7);
  p.gw.channel.sendPacket(b, 0, b.length);
  await until(() => p.cl.packets.length === 1, 'packet after the retransmission');
  assert.deepEqual(p.cl.packets[0], b);
  // The Finished (an epoch-1 handshake record) went out at least twice, the second time re-sealed.
  const finished = p.gw.sent.filter((d) => recordIds([d]).some((id) => id.startsWith('1:')) && d.includes(Buffer.from([22, 0xfe, 0xfd, 0, 1])));
  assert.ok(finished.length >= 2, `gateway Finished sent ${finished.length} times`);
  assertUniqueSeqs(p.gw.sent, 'gateway');
  p.cl.channel.close();
  await until(() => p.gw.closed.length === 1, 'gateway sees close_notify');
  assert.deepEqual(p.gw.closed[0], { kind: 'peer-closed' });
});

test('replayed, forged and foreign-epoch records are dropped; DPD request answered with the same length', async () => {
  const [c, s] = pskOptions(SuiteId.TLS_PSK_WITH_AES_128_GCM_SHA256);
  const p = makePair(c, s);
  p.cl.channel.start();
  await until(() => p.gw.established && p.cl.established, 'both established');
  // Capture the client's next data record and replay it.
  const pkt = packet(1, 200);
  p.cl.channel.sendPacket(pkt, 0, pkt.length);
  await until(() => p.gw.packets.length === 1, 'first packet');
  const rec = p.cl.sent[p.cl.sent.length - 1]!;
  p.gw.channel.handleDatagram(Buffer.from(rec));
  assert.equal(p.gw.packets.length, 1);
  assert.equal(p.gw.channel.counters.lastDrop, 'replay');
  const forged = Buffer.from(rec);
  forged.writeUIntBE(forged.readUIntBE(5, 6) + 1, 5, 6);
  p.gw.channel.handleDatagram(forged);
  assert.equal(p.gw.channel.counters.lastDrop, 'bad-mac');
  const epoch2 = Buffer.from(rec);
  epoch2.writeUInt16BE(2, 3);
  p.gw.channel.handleDatagram(epoch2);
  assert.equal(p.gw.channel.counters.lastDrop, 'bad-epoch', 'other epochs go to the endpoint');
  assert.equal(p.gw.channel.counters.drops, 3);

  // DPD request of 300 bytes from the client's keys (a sequence number far ahead of its own).
  const ck: DtlsTrafficKeys = { ...p.cl.channel.endpoint.exportTrafficKeys()!, nextWriteSeq: 100_000 };
  const sealer = createRecordSealer(ck);
  const out = Buffer.alloc(600);
  const body = randomBytes(300);
  const n = sealer.sealFrom(out, 0, body, 0, body.length, 0x03, 23);
  const before = p.gw.sent.length;
  p.gw.channel.handleDatagram(out.subarray(0, n));
  assert.equal(p.gw.sent.length, before + 1, 'one answer');
  const answer = Buffer.from(p.gw.sent[before]!);
  const opener = createRecordOpener(p.cl.channel.endpoint.exportTrafficKeys()!);
  const len = opener.open(answer, 0, answer.length);
  assert.equal(len, 301);
  assert.equal(answer[opener.plaintextOffset], 0x04, 'DPD response');
  assert.deepEqual(answer.subarray(opener.plaintextOffset + 1, opener.plaintextOffset + len), body);
  assert.equal(p.gw.channel.counters.rxControl, 1);
  await tick();
  p.gw.channel.close();
  p.cl.channel.close();
});

test('a datagram with several records: data records opened here, the rest to the endpoint', async () => {
  const [c, s] = resumeOptions(DTLS1_2, SuiteId.TLS_RSA_WITH_AES_128_GCM_SHA256);
  const p = makePair(c, s);
  p.cl.channel.start();
  await until(() => p.gw.established && p.cl.established, 'both established');
  const ck: DtlsTrafficKeys = { ...p.cl.channel.endpoint.exportTrafficKeys()!, nextWriteSeq: 5000 };
  const sealer = createRecordSealer(ck);
  const parts: Buffer[] = [];
  const pkts = [packet(1), packet(2)];
  for (const k of pkts) {
    const b = Buffer.alloc(2000);
    parts.push(b.subarray(0, sealer.sealFrom(b, 0, k, 0, k.length, 0x00, 23)));
  }
  // An (unauthenticated) epoch-0 alert between them: the endpoint ignores it.
  const alert = Buffer.from([21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 99, 0, 2, 1, 0]);
  p.gw.channel.handleDatagram(Buffer.concat([parts[0]!, alert, parts[1]!]));
  assert.deepEqual(p.gw.packets, pkts);
  assert.equal(p.gw.closed.length, 0);
  p.gw.channel.close();
  p.cl.channel.close();
});

for (const mode of MODES) {
  test(`${mode.name}: a gateway receiving from a reused slab (batched receive) keeps nothing of it`, async () => {
    const [c, s] = mode.opts();
    const p = makePair(c, s, false, true);
    p.cl.channel.start();
    await until(() => p.gw.established && p.cl.established, 'both established');
    const up: Buffer[] = [];
    const down: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      up.push(packet(i + 3000));
      down.push(packet(i + 4000));
      assert.ok(p.cl.channel.sendPacket(up[i]!, 0, up[i]!.length));
      assert.ok(p.gw.channel.sendPacket(down[i]!, 0, down[i]!.length));
    }
    await until(() => p.gw.packets.length === 40 && p.cl.packets.length === 40, 'all packets');
    assert.deepEqual(p.gw.packets, up);
    assert.deepEqual(p.cl.packets, down);
    assert.equal(p.gw.channel.counters.drops, 0);
    // close_notify from the client reaches the gateway's endpoint through the slab too
    p.cl.channel.close('done');
    await until(() => p.gw.closed.length === 1, 'gateway closed');
    assert.equal(p.gw.closed[0]!.kind, 'peer-closed');
  });
}
