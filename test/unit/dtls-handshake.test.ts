/**
 * Every mode and suite, client against server in memory: clean link, then
 * with loss, duplication and reordering driven by a fake clock, then
 * application data both ways. Plus the failure paths (wrong secrets,
 * refused resumption, alerts, close).
 */
import assert from 'node:assert/strict';
import { seeded } from '../helpers/seed.js';
import { test } from 'node:test';
import {
  ContentType,
  DTLS0_9,
  DTLS1_2,
  DtlsClient,
  DtlsServer,
  RESUME_REFUSED_MESSAGE,
  SuiteId,
  createResult,
  type DtlsClientOptions,
  type DtlsServerOptions,
  type DtlsVersion,
  type HelloVerifyOptions,
} from '../../src/dtls/index.js';
import { encodeHandshake, encodeServerHello } from '../../src/dtls/messages.js';
import { encodeRecord } from '../../src/dtls/record.js';
import { Sim, type LinkOptions } from './dtls-helpers.js';

// Keys and payloads from the logged test seed (test/helpers/seed.ts): a failure replays.
const rng = seeded('dtls-handshake');
const randomBytes = (n: number): Buffer => rng.bytes(n);

const S = SuiteId;

interface Case {
  name: string;
  client: DtlsClientOptions;
  server: DtlsServerOptions;
  suite: number;
}

function resumeCase(version: DtlsVersion, suite: number, helloVerify?: HelloVerifyOptions): Case {
  const sessionId = randomBytes(32);
  const masterSecret = randomBytes(48);
  const common = { mode: 'resume' as const, version, suite, sessionId, masterSecret };
  return {
    name: `resume ${version === DTLS0_9 ? 'DTLS0.9' : 'DTLS1.2'} 0x${suite.toString(16).padStart(4, '0')}${helloVerify ? ' +HVR' : ''}`,
    client: { role: 'client', ...common },
    server: { role: 'server', ...common, ...(helloVerify ? { helloVerify } : {}) },
    suite,
  };
}

function pskCase(
  suite: number,
  extra: { ems?: boolean; appIdExt?: boolean; helloVerify?: HelloVerifyOptions } = {},
): Case {
  const psk = randomBytes(32);
  const appId = randomBytes(32);
  const tags = [extra.ems ? '+EMS' : '', extra.appIdExt ? '+ext48018' : '', extra.helloVerify ? '+HVR' : ''].join('');
  return {
    name: `psk 0x${suite.toString(16).padStart(4, '0')}${tags}`,
    client: {
      role: 'client',
      mode: 'psk',
      psk,
      appId,
      ...(extra.ems ? { extendedMasterSecret: true } : {}),
      ...(extra.appIdExt ? { appIdExtension: true } : {}),
    },
    server: {
      role: 'server',
      mode: 'psk',
      psk,
      appId,
      suites: [suite],
      ...(extra.helloVerify ? { helloVerify: extra.helloVerify } : {}),
    },
    suite,
  };
}

const hv: HelloVerifyOptions = { secret: randomBytes(32), peer: Buffer.from('10.0.0.2:4433') };

const CASES: Case[] = [
  ...[S.TLS_RSA_WITH_AES_128_CBC_SHA, S.TLS_RSA_WITH_AES_256_CBC_SHA, S.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
    S.TLS_DHE_RSA_WITH_AES_128_CBC_SHA, S.TLS_DHE_RSA_WITH_AES_256_CBC_SHA].map((s) => resumeCase(DTLS0_9, s)),
  ...[S.TLS_RSA_WITH_AES_128_GCM_SHA256, S.TLS_RSA_WITH_AES_256_GCM_SHA384,
    S.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, S.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    S.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, S.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    S.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256, S.TLS_RSA_WITH_AES_128_CBC_SHA, S.TLS_RSA_WITH_AES_256_CBC_SHA,
  ].map((s) => resumeCase(DTLS1_2, s)),
  ...[S.TLS_PSK_WITH_AES_128_GCM_SHA256, S.TLS_PSK_WITH_AES_256_GCM_SHA384, S.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
    S.TLS_PSK_WITH_AES_128_CBC_SHA, S.TLS_PSK_WITH_AES_256_CBC_SHA, S.TLS_PSK_WITH_AES_128_CBC_SHA256,
    S.TLS_PSK_WITH_AES_256_CBC_SHA384].map((s) => pskCase(s)),
  pskCase(S.TLS_PSK_WITH_AES_256_GCM_SHA384, { ems: true }),
  pskCase(S.TLS_PSK_WITH_AES_128_GCM_SHA256, { appIdExt: true }),
  pskCase(S.TLS_PSK_WITH_AES_256_GCM_SHA384, { helloVerify: hv }),
  resumeCase(DTLS0_9, S.TLS_RSA_WITH_AES_256_CBC_SHA, hv),
  resumeCase(DTLS1_2, S.TLS_RSA_WITH_AES_256_GCM_SHA384, hv),
];

function runCase(c: Case, link: LinkOptions): Sim {
  const sim = new Sim(new DtlsClient(c.client), new DtlsServer(c.server), link);
  sim.start();
  sim.run();
  return sim;
}

function assertEstablished(sim: Sim, c: Case, label: string): void {
  const failures = [...sim.clientEvents, ...sim.serverEvents].filter((e) => e.type === 'failed');
  assert.deepEqual(failures, [], `${label}: no failure`);
  assert.ok(sim.client.established, `${label}: client established`);
  assert.ok(sim.server.established, `${label}: server established`);
  assert.equal(sim.client.info?.suiteId, c.suite);
  assert.equal(sim.server.info?.suiteId, c.suite);
  assert.equal(sim.clientEvents.filter((e) => e.type === 'established').length, 1);
  assert.equal(sim.serverEvents.filter((e) => e.type === 'established').length, 1);
  assert.equal(sim.client.timerAt, null);
  assert.equal(sim.server.timerAt, null);
  assert.equal(sim.inFlight, 0, `${label}: network quiet after the handshake (no retransmission loop)`);
  assert.ok(!sim.clientDrops.includes('internal-error') && !sim.serverDrops.includes('internal-error'));
  assert.ok(!sim.clientDrops.includes('bad-mac') && !sim.serverDrops.includes('bad-mac'), `${label}: no MAC failures`);
}

function exchangeData(sim: Sim, label: string): void {
  const up = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from([0]), randomBytes(i * 70)]));
  const down = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from([3]), randomBytes(1399 - i * 60)]));
  for (const p of up) sim.send('client', p);
  for (const p of down) sim.send('server', p);
  sim.drain();
  // With loss some packets vanish, but nothing is corrupted or delivered twice.
  const key = (b: Buffer) => b.toString('hex');
  const upSet = new Set(up.map(key));
  const downSet = new Set(down.map(key));
  assert.ok(sim.serverDelivered.every((b) => upSet.has(key(b))), `${label}: server got only what was sent`);
  assert.ok(sim.clientDelivered.every((b) => downSet.has(key(b))), `${label}: client got only what was sent`);
  assert.equal(new Set(sim.serverDelivered.map(key)).size, sim.serverDelivered.length, `${label}: no duplicates`);
  assert.equal(new Set(sim.clientDelivered.map(key)).size, sim.clientDelivered.length, `${label}: no duplicates`);
}

for (const c of CASES) {
  test(`${c.name}: clean link`, () => {
    const sim = runCase(c, {});
    assertEstablished(sim, c, 'clean');
    assert.deepEqual(sim.clientDrops, []);
    assert.ok(sim.serverDrops.every((d) => d === 'cookie-required'));
    exchangeData(sim, 'clean');
    assert.equal(sim.serverDelivered.length, 20);
    assert.equal(sim.clientDelivered.length, 20);
  });

  test(`${c.name}: loss, duplication and reordering (12 seeds)`, () => {
    for (let seed = 1; seed <= 12; seed++) {
      const sim = runCase(c, { seed, loss: 0.3, duplicate: 0.3, jitterMs: 40, delayMs: 5 });
      assertEstablished(sim, c, `seed ${seed}`);
      exchangeData(sim, `seed ${seed}`);
    }
  });
}

test('the first flights are lost: both sides recover through their timers', () => {
  for (const c of [CASES[0]!, CASES[6]!, CASES[16]!]) {
    for (const dropFirst of [1, 2, 3]) {
      const sim = runCase(c, { dropFirst });
      assertEstablished(sim, c, `${c.name} dropFirst=${dropFirst}`);
    }
  }
});

test('resume: client final flight lost → server retransmits → client resends CCS+Finished', () => {
  const c = resumeCase(DTLS1_2, S.TLS_RSA_WITH_AES_128_GCM_SHA256);
  const client = new DtlsClient(c.client);
  const server = new DtlsServer(c.server);
  const ch = client.start(0).send[0]!;
  const flight = server.handleDatagram(ch, 0).send[0]!;
  const fin1 = client.handleDatagram(flight, 1);
  assert.ok(client.established);
  assert.equal(fin1.send.length, 1); // ... and this datagram is "lost"
  const retx = server.onTimer(1000);
  assert.equal(retx.send.length, 1);
  const fin2 = client.handleDatagram(retx.send[0]!, 1001);
  assert.equal(fin2.send.length, 1, 'client answers the retransmission once');
  assert.ok(fin2.drops.includes('duplicate'));
  assert.notDeepEqual(fin2.send[0], fin1.send[0], 'fresh record sequence numbers');
  const done = server.handleDatagram(fin2.send[0]!, 1002);
  assert.equal(done.events[0]?.type, 'established');
});

test('PSK: server final flight lost → client retransmits → server resends CCS+Finished', () => {
  const c = pskCase(S.TLS_PSK_WITH_AES_256_GCM_SHA384);
  const client = new DtlsClient(c.client);
  const server = new DtlsServer(c.server);
  const ch = client.start(0).send[0]!;
  const f2 = server.handleDatagram(ch, 0).send[0]!;
  const f3 = client.handleDatagram(f2, 1).send[0]!;
  const f4 = server.handleDatagram(f3, 2);
  assert.ok(server.established);
  const retx = client.onTimer(1001);
  assert.equal(retx.send.length, 1);
  const again = server.handleDatagram(retx.send[0]!, 1002);
  assert.equal(again.send.length, 1);
  const done = client.handleDatagram(again.send[0]!, 1003);
  assert.equal(done.events[0]?.type, 'established');
  void f4;
});

test('wrong master secret: Finished fails on the client with bad-finished and an alert', () => {
  const c = resumeCase(DTLS0_9, S.TLS_RSA_WITH_AES_128_CBC_SHA);
  const server = new DtlsServer({ ...(c.server as DtlsServerOptions & { mode: 'resume' }), masterSecret: randomBytes(48) });
  const client = new DtlsClient(c.client);
  const f1 = server.handleDatagram(client.start(0).send[0]!, 0);
  const r = client.handleDatagram(f1.send[0]!, 1);
  // The server Finished decrypts with the wrong keys → MAC failure → dropped; nothing verifies.
  assert.ok(r.drops.includes('bad-mac'));
  assert.equal(client.established, false);
});

test('wrong PSK: server fails the handshake (bad MAC on client Finished)', () => {
  const c = pskCase(S.TLS_PSK_WITH_AES_128_GCM_SHA256);
  const server = new DtlsServer({ ...(c.server as DtlsServerOptions & { mode: 'psk' }), psk: randomBytes(32) });
  const client = new DtlsClient(c.client);
  const f2 = server.handleDatagram(client.start(0).send[0]!, 0);
  const f3 = client.handleDatagram(f2.send[0]!, 1);
  const r = server.handleDatagram(f3.send[0]!, 2);
  assert.ok(r.drops.includes('bad-mac'));
  assert.equal(server.established, false);
  // Eventually the handshake times out on both sides.
  let t = server.timerAt;
  while (t !== null) t = server.onTimer(t).timerAt;
  assert.equal(server.status, 'failed');
});

test('transcript tampered in transit (unauthenticated extension) → bad-finished + decrypt_error alert', () => {
  const c = resumeCase(DTLS1_2, S.TLS_RSA_WITH_AES_128_GCM_SHA256);
  const client = new DtlsClient(c.client);
  const server = new DtlsServer(c.server);
  const ch = Buffer.from(client.start(0).send[0]!);
  // The client's only extension is renegotiation_info (ff01 0001 00) at the end: rename it.
  assert.deepEqual(ch.subarray(ch.length - 5), Buffer.from('ff01000100', 'hex'));
  ch.writeUInt16BE(0xff02, ch.length - 5);
  const f2 = server.handleDatagram(ch, 1);
  assert.equal(f2.send.length, 1);
  const r = client.handleDatagram(f2.send[0]!, 2);
  const failed = r.events.find((e) => e.type === 'failed');
  assert.equal(failed?.type === 'failed' && failed.reason, 'bad-finished');
  // Fatal decrypt_error alert, in epoch 0 because our CCS had not been sent yet.
  assert.deepEqual(r.send[0]!.subarray(13), Buffer.from([2, 51]));
  assert.equal(client.status, 'failed');
  assert.deepEqual(client.handleDatagram(f2.send[0]!, 3).drops.slice(0, 1), ['closed']);
});

test('resume refused: ServerHello with another session id → failed "full handshake offered on resume"', () => {
  const c = resumeCase(DTLS1_2, S.TLS_RSA_WITH_AES_256_GCM_SHA384);
  const client = new DtlsClient(c.client);
  client.start(0);
  const sh = encodeServerHello({
    version: DTLS1_2,
    random: randomBytes(32),
    sessionId: randomBytes(32),
    cipherSuite: c.suite,
    extensions: null,
  });
  const rec = encodeRecord(null, ContentType.handshake, DTLS1_2, 0, 0, encodeHandshake(2, 0, sh));
  const r = client.handleDatagram(rec, 5);
  const failed = r.events.find((e) => e.type === 'failed');
  assert.ok(failed && failed.type === 'failed');
  assert.equal(failed.reason, 'resume-refused');
  assert.equal(failed.message, RESUME_REFUSED_MESSAGE);
  assert.equal(failed.message, 'full handshake offered on resume: possible attack');
  assert.equal(r.send.length, 1, 'fatal alert sent');
  assert.deepEqual(r.send[0]!.subarray(13), Buffer.from([2, 40]));
  assert.equal(client.timerAt, null);
});

test('resume refused: echoed session id but then Certificate/ServerHelloDone → failed', () => {
  const c = resumeCase(DTLS0_9, S.TLS_RSA_WITH_AES_128_CBC_SHA);
  const opts = c.client as DtlsClientOptions & { mode: 'resume' };
  const client = new DtlsClient(c.client);
  client.start(0);
  const sh = encodeServerHello({
    version: DTLS0_9,
    random: randomBytes(32),
    sessionId: opts.sessionId,
    cipherSuite: c.suite,
    extensions: null,
  });
  const d = Buffer.concat([
    encodeRecord(null, ContentType.handshake, DTLS0_9, 0, 0, encodeHandshake(2, 0, sh)),
    encodeRecord(null, ContentType.handshake, DTLS0_9, 0, 1, encodeHandshake(11, 1, Buffer.from([0, 0, 0]))),
  ]);
  const r = client.handleDatagram(d, 5);
  const failed = r.events.find((e) => e.type === 'failed');
  assert.equal(failed?.type === 'failed' && failed.reason, 'resume-refused');
});

test('server picks a suite the client did not offer → no-common-suite', () => {
  const c = pskCase(S.TLS_PSK_WITH_AES_128_GCM_SHA256);
  const client = new DtlsClient({ ...(c.client as DtlsClientOptions & { mode: 'psk' }), suites: [S.TLS_PSK_WITH_AES_128_GCM_SHA256] });
  const server = new DtlsServer({ ...(c.server as DtlsServerOptions & { mode: 'psk' }), suites: [S.TLS_PSK_WITH_AES_256_GCM_SHA384] });
  const r = server.handleDatagram(client.start(0).send[0]!, 0);
  const failed = r.events.find((e) => e.type === 'failed');
  assert.equal(failed?.type === 'failed' && failed.reason, 'no-common-suite');
  // Alert handshake_failure, in the clear.
  assert.deepEqual(r.send[0]!.subarray(13), Buffer.from([2, 40]));
  const cr = client.handleDatagram(r.send[0]!, 1);
  assert.equal(cr.events[0]?.type === 'failed' && cr.events[0].reason, 'peer-alert');
});

test('version mismatch: DTLS 0.9 client against a DTLS 1.2 resume server', () => {
  const c = resumeCase(DTLS1_2, S.TLS_RSA_WITH_AES_128_CBC_SHA);
  const client = new DtlsClient({ ...(c.client as DtlsClientOptions & { mode: 'resume' }), version: DTLS0_9 });
  const server = new DtlsServer(c.server);
  const r = server.handleDatagram(client.start(0).send[0]!, 0);
  assert.deepEqual(r.drops, ['bad-version']);
});

test('unknown session id / App-ID is dropped, not failed', () => {
  const c = resumeCase(DTLS1_2, S.TLS_RSA_WITH_AES_128_GCM_SHA256);
  const other = resumeCase(DTLS1_2, S.TLS_RSA_WITH_AES_128_GCM_SHA256);
  const server = new DtlsServer(c.server);
  const sim = new Sim(new DtlsClient(c.client), server, {});
  const r = server.handleDatagram(new DtlsClient(other.client).start(sim.now).send[0]!, sim.now);
  assert.deepEqual(r.drops, ['unknown-session']);
  assert.equal(server.status, 'handshaking');
  // The right client still gets through afterwards.
  sim.start();
  sim.run();
  assert.ok(sim.client.established && sim.server.established);

  const p = pskCase(S.TLS_PSK_WITH_AES_128_GCM_SHA256);
  const pskServer = new DtlsServer(p.server);
  const q = pskCase(S.TLS_PSK_WITH_AES_128_GCM_SHA256);
  assert.deepEqual(pskServer.handleDatagram(new DtlsClient(q.client).start(0).send[0]!, 0).drops, ['unknown-session']);
});

test('client restarts with a fresh ClientHello before completion: server starts over', () => {
  const c = resumeCase(DTLS1_2, S.TLS_RSA_WITH_AES_256_GCM_SHA384);
  const server = new DtlsServer(c.server);
  const sim = new Sim(new DtlsClient(c.client), server, {});
  const first = new DtlsClient(c.client);
  const answered = server.handleDatagram(first.start(sim.now).send[0]!, sim.now); // never completed
  assert.equal(answered.send.length, 1);
  sim.start();
  sim.run();
  assert.ok(sim.client.established && sim.server.established);
});

test('established server: a new ClientHello is reported as new-handshake (hand it to a fresh endpoint)', () => {
  const c = pskCase(S.TLS_PSK_WITH_AES_256_GCM_SHA384);
  const sim = new Sim(new DtlsClient(c.client), new DtlsServer(c.server), {});
  sim.start();
  sim.run();
  assert.ok(sim.server.established);
  const fresh = new DtlsClient(c.client).start(0).send[0]!;
  const r = sim.server.handleDatagram(fresh, sim.now);
  assert.deepEqual(r.drops, ['new-handshake']);
  assert.ok(sim.server.established, 'old association still up');
  const s2 = new DtlsServer(c.server);
  const r2 = s2.handleDatagram(fresh, sim.now);
  assert.equal(r2.send.length, 1, 'a fresh endpoint answers it');
});

test('close(): close_notify reaches the peer as a closed event; later records are dropped', () => {
  const c = resumeCase(DTLS1_2, S.TLS_RSA_WITH_AES_128_GCM_SHA256);
  const sim = new Sim(new DtlsClient(c.client), new DtlsServer(c.server), {});
  sim.start();
  sim.run();
  const data = sim.client.protect(Buffer.from([0, 1, 2]));
  const bye = sim.client.close();
  assert.equal(bye.send.length, 1);
  assert.equal(sim.client.status, 'closed');
  const r = sim.server.handleDatagram(bye.send[0]!, sim.now);
  assert.deepEqual(r.events, [{ type: 'closed', alert: 0 }]);
  assert.deepEqual(sim.server.handleDatagram(data, sim.now).drops, ['closed']);
  assert.throws(() => sim.client.protect(Buffer.from([0])));
});

test('protectInPlace: record written into caller buffer with headroom/tailroom', () => {
  for (const c of [CASES[0]!, CASES[5]!, CASES[11]!]) {
    const sim = new Sim(new DtlsClient(c.client), new DtlsServer(c.server), {});
    sim.start();
    sim.run();
    const { headroom, tailroom } = sim.client;
    const payload = Buffer.concat([Buffer.from([0]), randomBytes(777)]);
    const buf = Buffer.alloc(headroom + payload.length + tailroom + 10, 0xee);
    payload.copy(buf, headroom);
    const n = sim.client.protectInPlace(buf, headroom, payload.length);
    assert.equal(n, sim.client.recordLength(payload.length));
    const r = sim.server.handleDatagram(buf.subarray(0, n), sim.now);
    assert.deepEqual(r.deliver, [payload]);
    assert.throws(() => sim.client.protectInPlace(buf, 3, payload.length), RangeError);
  }
});

test('batching: one result object collects several datagrams', () => {
  const c = resumeCase(DTLS1_2, S.TLS_RSA_WITH_AES_128_GCM_SHA256);
  const sim = new Sim(new DtlsClient(c.client), new DtlsServer(c.server), {});
  sim.start();
  sim.run();
  const out = createResult();
  for (let i = 0; i < 5; i++) sim.server.handleDatagram(sim.client.protect(Buffer.from([0, i])), sim.now, out);
  assert.equal(out.deliver.length, 5);
  assert.deepEqual(out.deliver.map((b) => b[1]), [0, 1, 2, 3, 4]);
});

test('exportTrafficKeys: keys open records written by the endpoint', () => {
  const c = pskCase(S.TLS_PSK_WITH_AES_256_GCM_SHA384);
  const sim = new Sim(new DtlsClient(c.client), new DtlsServer(c.server), {});
  sim.start();
  sim.run();
  const ck = sim.client.exportTrafficKeys();
  const sk = sim.server.exportTrafficKeys();
  assert.ok(ck && sk);
  assert.deepEqual(ck.write.encKey, sk.read.encKey);
  assert.deepEqual(ck.read.fixedIv, sk.write.fixedIv);
  assert.equal(ck.suiteId, S.TLS_PSK_WITH_AES_256_GCM_SHA384);
  assert.equal(ck.nextWriteSeq, 1, 'the Finished used epoch-1 sequence 0');
});
