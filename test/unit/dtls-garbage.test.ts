/**
 * Hostile input: every record with a bad MAC/tag, wrong epoch, replayed or
 * too-old sequence, truncated or oversized length is dropped with a typed
 * reason; random and mutated datagrams never throw and never break a
 * handshake or an established association.
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
  type DtlsVersion,
} from '../../src/dtls/index.js';
import { Prng, Sim } from './dtls-helpers.js';

// Keys and payloads from the logged test seed (test/helpers/seed.ts): a failure replays.
const rng = seeded('dtls-garbage');
const randomBytes = (n: number): Buffer => rng.bytes(n);

function pair(kind: 'psk' | 'resume09' | 'resume12'): { client: DtlsClientOptions; server: DtlsServerOptions } {
  if (kind === 'psk') {
    const psk = randomBytes(32);
    const appId = randomBytes(32);
    return { client: { role: 'client', mode: 'psk', psk, appId }, server: { role: 'server', mode: 'psk', psk, appId } };
  }
  const version: DtlsVersion = kind === 'resume09' ? DTLS0_9 : DTLS1_2;
  const suite = kind === 'resume09' ? SuiteId.TLS_RSA_WITH_AES_256_CBC_SHA : SuiteId.TLS_RSA_WITH_AES_128_GCM_SHA256;
  const common = { mode: 'resume' as const, version, suite, sessionId: randomBytes(32), masterSecret: randomBytes(48) };
  return { client: { role: 'client', ...common }, server: { role: 'server', ...common } };
}

function established(kind: 'psk' | 'resume09' | 'resume12'): Sim {
  const p = pair(kind);
  const sim = new Sim(new DtlsClient(p.client), new DtlsServer(p.server), {});
  sim.start();
  sim.run();
  assert.ok(sim.client.established && sim.server.established);
  return sim;
}

for (const kind of ['psk', 'resume09', 'resume12'] as const) {
  test(`${kind}: typed drops for bad MAC, epoch, replay, too old, truncated, oversized`, () => {
    const sim = established(kind);
    const { client, server } = sim;
    const now = sim.now;

    const rec = client.protect(Buffer.from([0, 1, 2, 3]));
    assert.deepEqual(server.handleDatagram(rec, now).deliver.length, 1);
    assert.deepEqual(server.handleDatagram(rec, now).drops, ['replay']);

    const bad = Buffer.from(client.protect(Buffer.from([0, 9])));
    bad[bad.length - 1]! ^= 0x80;
    assert.deepEqual(server.handleDatagram(bad, now).drops, ['bad-mac']);

    const ep2 = Buffer.from(client.protect(Buffer.from([0, 9])));
    ep2.writeUInt16BE(2, 3);
    assert.deepEqual(server.handleDatagram(ep2, now).drops, ['bad-epoch']);
    const ep0 = Buffer.from(ep2);
    ep0.writeUInt16BE(0, 3);
    assert.deepEqual(server.handleDatagram(ep0, now).drops, ['bad-epoch']);

    const old = client.protect(Buffer.from([0, 0xaa]));
    for (let i = 0; i < 70; i++) server.handleDatagram(client.protect(Buffer.from([0, i])), now);
    assert.deepEqual(server.handleDatagram(old, now).drops, ['too-old']);

    const good = client.protect(Buffer.from([0, 0xbb]));
    assert.deepEqual(server.handleDatagram(good.subarray(0, good.length - 1), now).drops, ['truncated']);
    assert.deepEqual(server.handleDatagram(good.subarray(0, 5), now).drops, ['truncated']);

    const huge = Buffer.alloc(13 + 18433);
    good.copy(huge, 0, 0, 11);
    huge.writeUInt16BE(18433, 11);
    assert.deepEqual(server.handleDatagram(huge, now).drops, ['oversized']);

    const wrongVersion = Buffer.from(client.protect(Buffer.from([0])));
    wrongVersion.writeUInt16BE(kind === 'resume09' ? DTLS1_2 : DTLS0_9, 1);
    assert.deepEqual(server.handleDatagram(wrongVersion, now).drops, ['bad-version']);

    const typeX = Buffer.from(client.protect(Buffer.from([0])));
    typeX[0] = 99; // fails authentication first (type is in the MAC/AAD)
    assert.deepEqual(server.handleDatagram(typeX, now).drops, ['bad-mac']);

    // Two records in one datagram, the first corrupted: the second still gets through.
    const a = Buffer.from(client.protect(Buffer.from([0, 1])));
    a[20]! ^= 1;
    const b = client.protect(Buffer.from([0, 2]));
    const both = server.handleDatagram(Buffer.concat([a, b]), now);
    assert.deepEqual(both.drops, ['bad-mac']);
    assert.deepEqual(both.deliver, [Buffer.from([0, 2])]);

    // The association is still healthy.
    const ok = server.handleDatagram(client.protect(Buffer.from([4, 4])), now);
    assert.deepEqual(ok.deliver, [Buffer.from([4, 4])]);
    assert.deepEqual(client.handleDatagram(server.protect(Buffer.from([3])), now).deliver, [Buffer.from([3])]);
    assert.deepEqual(server.handleDatagram(Buffer.alloc(0), now).drops, []);
  });

  test(`${kind}: 3000 random datagrams against idle, handshaking and established endpoints never throw`, () => {
    const prng = new Prng(kind.length * 7919);
    const p = pair(kind);
    const idleServer = new DtlsServer(p.server);
    const client = new DtlsClient(p.client);
    const ch = client.start(0).send[0]!;
    const sim = established(kind);
    const targets = [idleServer, client, sim.client, sim.server];
    for (let i = 0; i < 3000; i++) {
      const len = prng.int(120);
      const d = prng.bytes(len);
      // Bias towards plausible headers so deeper code paths are reached.
      if (len >= 13 && prng.next() < 0.7) {
        d[0] = 20 + prng.int(4);
        d.writeUInt16BE([DTLS0_9, DTLS1_2, 0xfeff][prng.int(3)]!, 1);
        d.writeUInt16BE(prng.int(3), 3);
        if (prng.next() < 0.7) d.writeUInt16BE(len - 13, 11);
      }
      for (const t of targets) {
        const r = t.handleDatagram(d, 1);
        assert.ok(!r.drops.includes('internal-error'), `internal-error on ${d.toString('hex')}`);
      }
    }
    assert.ok(sim.client.established && sim.server.established, 'established pair survived');
    assert.deepEqual(sim.server.handleDatagram(sim.client.protect(Buffer.from([0, 7])), sim.now).deliver, [Buffer.from([0, 7])]);
    // The untouched-by-garbage client/server pair can still complete.
    const s2 = new DtlsServer(p.server);
    const r = s2.handleDatagram(ch, 2);
    assert.equal(r.send.length, 1);
  });

  test(`${kind}: mutated handshake datagrams (one to four byte flips) never throw`, () => {
    const prng = new Prng(kind.length * 104729);
    for (let round = 0; round < 60; round++) {
      const p = pair(kind);
      const sim = new Sim(new DtlsClient(p.client), new DtlsServer(p.server), {});
      sim.start();
      sim.run();
      const flights = [...sim.sent.client, ...sim.sent.server];
      for (const f of flights) {
        for (let k = 0; k < 5; k++) {
          const m = Buffer.from(f);
          const flips = 1 + prng.int(4);
          for (let j = 0; j < flips; j++) m[prng.int(m.length)]! ^= 1 << prng.int(8);
          const fresh = [new DtlsServer(p.server), new DtlsClient(p.client)];
          (fresh[1] as DtlsClient).start(0);
          for (const t of [...fresh, sim.client, sim.server]) {
            const r = t.handleDatagram(m, sim.now);
            assert.ok(!r.drops.includes('internal-error'));
          }
        }
      }
      assert.ok(sim.client.established && sim.server.established);
    }
  });
}

test('handshake fragments: random fragmentation of a real flight is reassembled', () => {
  // Split the server's ServerHello into 3 fragments and deliver them out of order.
  const p = pair('psk');
  const client = new DtlsClient(p.client);
  const server = new DtlsServer(p.server);
  const ch = client.start(0).send[0]!;
  // Fragment the ClientHello itself (server side reassembly): header 12 bytes then body.
  const body = ch.subarray(25);
  const total = body.length;
  const cuts = [0, 17, 60, total];
  const frags: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    const part = body.subarray(cuts[i]!, cuts[i + 1]!);
    const hs = Buffer.alloc(12);
    hs[0] = 1;
    hs.writeUIntBE(total, 1, 3);
    hs.writeUInt16BE(0, 4);
    hs.writeUIntBE(cuts[i]!, 6, 3);
    hs.writeUIntBE(part.length, 9, 3);
    const rec = Buffer.alloc(13);
    ch.copy(rec, 0, 0, 11);
    rec.writeUIntBE(i, 5, 6);
    rec.writeUInt16BE(12 + part.length, 11);
    frags.push(Buffer.concat([rec, hs, part]));
  }
  assert.deepEqual(server.handleDatagram(frags[2]!, 0).send, []);
  assert.deepEqual(server.handleDatagram(frags[0]!, 0).send, []);
  const r = server.handleDatagram(frags[1]!, 0);
  assert.equal(r.send.length, 1, 'answered once complete');
  const done = client.handleDatagram(r.send[0]!, 1);
  const fin = server.handleDatagram(done.send[0]!, 2);
  assert.equal(fin.events[0]?.type, 'established');
});
