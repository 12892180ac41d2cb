/**
 * DtlsListener (src/gateway/dtls-listener.ts), the gateway's UDP side, with real UDP sockets on
 * 127.0.0.1, our DTLS client endpoint on the other end, a real Router on a fake TUN, and a fake
 * session whose CONNECT completed (PSK-NEGOTIATE and DTLS 1.2 resume):
 *   - a ClientHello naming the session creates the association; data flows both ways;
 *   - datagrams from unknown peers (garbage, unknown id, CONNECT not completed) are dropped and
 *     counted, and start nothing;
 *   - a ClientHello replaying the live session id, from another port or from the live port
 *     itself, does not touch the live association: data keeps flowing while the attacker's
 *     handshake is pending, and after it failed (wrong key) or timed out;
 *   - a legitimate new handshake (client restart on a new port, rekey on the same port) replaces
 *     the association only when it completes;
 *   - pending handshakes are bounded per session and in total, and end at their deadline.
 * Waits are for events (counters reaching a value, packets arriving), never for a time.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { DtlsClient, DTLS1_2, SuiteId, createResult } from '../../src/dtls/index.js';
import { DtlsListener, type DtlsHandshakeLimits } from '../../src/gateway/dtls-listener.js';
import type { DtlsOffer } from '../../src/gateway/dtls-offer.js';
import { Router } from '../../src/gateway/router.js';
import { SessionTunnel, emptyDtlsTotals } from '../../src/gateway/session-tunnel.js';
import type { Session } from '../../src/gateway/sessions.js';
import { createLogger } from '../../src/log.js';
import type { CstpChannel } from '../../src/tunnel/cstp-channel.js';
import { DtlsChannel } from '../../src/tunnel/dtls-channel.js';
import { FakeTun, ip, ipv4Packet } from './fake-tun.js';

const LOCAL = '127.0.0.1';

/** Resolves when `cond()` holds, checked after every event-loop turn (no time limit here: the test's own timeout bounds it). */
async function until(cond: () => boolean, what: string, t?: TestContext): Promise<void> {
  let turns = 0;
  while (!cond()) {
    await new Promise((r) => setImmediate(r));
    if (++turns % 200_000 === 0) { t?.diagnostic(`still waiting for ${what}`); if (process.env.DEBUG_UNTIL) console.log(`waiting for ${what}`); }
  }
}

interface Gw {
  tun: FakeTun;
  router: Router;
  listener: DtlsListener;
  logs: Array<Record<string, unknown>>;
  /** onHandshake results in order: 'ok' | 'failed' | 'timeout' */
  results: string[];
}

async function startListener(t: TestContext, limits: Partial<DtlsHandshakeLimits> = {}): Promise<Gw> {
  const tun = new FakeTun();
  const router = new Router(tun);
  router.start();
  const logs: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ level: 'debug', destination: dest });
  const results: string[] = [];
  const listener = new DtlsListener(router, log, { dpd: () => 0, keepalive: () => 0, onHandshake: (_s, _m, r) => results.push(r) }, limits);
  await listener.listen(LOCAL, 0);
  t.after(() => listener.close());
  return { tun, router, listener, logs, results };
}

interface FakeSession {
  session: Session;
  tunnel: SessionTunnel;
  cstpSent: Buffer[];
  /** what the client needs: the id and the key material */
  id: Buffer;
  psk: Buffer;
  masterSecret: Buffer;
}

/** A session whose CONNECT completed with DTLS offered in `mode`, as openTunnel leaves it. */
function fakeSession(n: number, mode: 'psk' | 'resume', tlsRemote = LOCAL, cstpOpen = true): FakeSession {
  const cstpSent: Buffer[] = [];
  const cstp = {
    isOpen: cstpOpen,
    sendPacket(buf: Uint8Array, off: number, len: number): boolean {
      cstpSent.push(Buffer.from(buf.subarray(off, off + len)));
      return true;
    },
  } as unknown as CstpChannel; // only isOpen and sendPacket are used by SessionTunnel and the listener
  const tunnel = new SessionTunnel(cstp);
  const id = randomBytes(32);
  const psk = randomBytes(32);
  const masterSecret = randomBytes(48);
  const offer: DtlsOffer =
    mode === 'psk'
      ? { mode: 'psk', name: 'PSK-NEGOTIATE', header: 'X-DTLS-CipherSuite' }
      : { mode: 'resume', name: 'AES256-GCM-SHA384', header: 'X-DTLS12-CipherSuite', version: DTLS1_2, suite: SuiteId.TLS_RSA_WITH_AES_256_GCM_SHA384, masterSecret };
  tunnel.dtls = { offer, idHex: id.toString('hex'), psk: mode === 'psk' ? psk : null, channel: null, info: null, peer: null, closed: emptyDtlsTotals() };
  const session = {
    id: n,
    user: `user${n}`,
    address: ip(`10.9.0.${n + 1}`),
    link: { remote: tlsRemote, since: Date.now(), protocol: 'TLSv1.3', cipher: 'x', mtu: 1400, connects: 1 },
  } as unknown as Session; // the listener reads id, user, address and link only
  return { session, tunnel, cstpSent, id, psk, masterSecret };
}

/** A DTLS client on its own UDP socket (a fresh source port), like openconnect's. */
class Client {
  readonly got: Buffer[] = [];
  channel: DtlsChannel | null = null;
  private readonly old: DtlsChannel[] = [];
  established = false;
  failed: string | null = null;
  private constructor(readonly sock: Socket) {
    sock.on('message', (m) => this.channel?.handleDatagram(m));
  }

  static async open(t: TestContext, address = LOCAL): Promise<Client> {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, address, r));
    const c = new Client(sock);
    t.after(() => {
      for (const ch of [...c.old, c.channel]) ch?.close();
      sock.close();
    });
    return c;
  }

  get port(): number {
    return this.sock.address().port;
  }

  /** Starts a handshake for `fs` towards the listener; `wrongKey`: an attacker who knows only the id. */
  connect(fs: FakeSession, gwPort: number, opts: { wrongKey?: boolean } = {}): void {
    const d = fs.tunnel.dtls!;
    const endpoint =
      d.offer.mode === 'psk'
        ? new DtlsClient({ role: 'client', mode: 'psk', psk: opts.wrongKey ? randomBytes(32) : fs.psk, appId: fs.id })
        : new DtlsClient({ role: 'client', mode: 'resume', version: d.offer.version, suite: d.offer.suite, sessionId: fs.id, masterSecret: opts.wrongKey ? randomBytes(48) : fs.masterSecret });
    // The previous association is dropped without close_notify, as a client that restarts or
    // rekeys on the same socket would (a close_notify would end the gateway's side at once).
    if (this.channel) this.old.push(this.channel);
    this.established = false;
    this.failed = null;
    const ch = new DtlsChannel({
      endpoint,
      role: 'client',
      send: (dg) => this.sock.send(dg, gwPort, LOCAL),
      dpd: 0,
      keepalive: 0,
      onPacket: (buf, s, e) => this.got.push(Buffer.from(buf.subarray(s, e))),
      onEstablished: () => {
        this.established = true;
      },
      onClose: (why) => {
        if (why.kind === 'handshake-failed') this.failed = why.reason;
      },
    });
    this.channel = ch;
    ch.start();
  }

  send(dgram: Buffer, gwPort: number): void {
    this.sock.send(dgram, gwPort, LOCAL);
  }
}

/** The first flight (ClientHello) of a client for `fs` with the wrong key: what an attacker who knows the id sends. */
function attackerClientHello(fs: FakeSession): Buffer {
  const d = fs.tunnel.dtls!;
  const ep =
    d.offer.mode === 'psk'
      ? new DtlsClient({ role: 'client', mode: 'psk', psk: randomBytes(32), appId: fs.id })
      : new DtlsClient({ role: 'client', mode: 'resume', version: d.offer.version, suite: d.offer.suite, sessionId: fs.id, masterSecret: randomBytes(48) });
  const r = ep.start(Date.now(), createResult());
  assert.equal(r.send.length, 1);
  return r.send[0]!;
}

/** One packet each way over the session's current association; resolves when both arrived. */
async function roundTrip(gw: Gw, fs: FakeSession, client: Client, tag: string): Promise<void> {
  const up = ipv4Packet(`10.9.0.${fs.session.id + 1}`, '192.0.2.1', `up ${tag}`);
  const down = ipv4Packet('192.0.2.1', `10.9.0.${fs.session.id + 1}`, `down ${tag}`);
  const written = gw.tun.written.length;
  const got = client.got.length;
  assert.ok(client.channel!.sendPacket(up, 0, up.length), 'client association is up');
  await until(() => gw.tun.written.length > written, `${tag}: packet on the TUN`);
  assert.deepEqual(gw.tun.written.at(-1), up);
  const cstp = fs.cstpSent.length;
  assert.ok(fs.tunnel.sendPacket(down, 0, down.length));
  await until(() => client.got.length > got, `${tag}: packet at the client`);
  assert.deepEqual(client.got.at(-1), down);
  assert.equal(fs.cstpSent.length, cstp, `${tag}: the gateway answered over DTLS, not CSTP`);
}

for (const mode of ['psk', 'resume'] as const) {
  test(`DtlsListener (${mode}): a ClientHello naming a session whose CONNECT completed creates the association`, async (t) => {
    const gw = await startListener(t);
    const fs = fakeSession(1, mode);
    gw.router.attach(fs.session.address!, fs.tunnel);
    gw.listener.expect(fs.session, fs.tunnel);
    const c = await Client.open(t);
    c.connect(fs, gw.listener.port);
    await until(() => c.established && fs.tunnel.dtls!.channel !== null, 'handshake');
    assert.equal(gw.listener.counters.handshakesOk, 1);
    assert.equal(gw.listener.pendingHandshakes, 0);
    assert.equal(fs.tunnel.dtls!.peer, `${LOCAL}:${c.port}`);
    assert.equal(fs.tunnel.channelName, 'DTLS');
    await roundTrip(gw, fs, c, 'first');
    // A packet over DTLS with another source address than the session's: dropped by the router.
    const spoof = ipv4Packet('10.9.0.99', '192.0.2.1', 'spoofed');
    assert.ok(c.channel!.sendPacket(spoof, 0, spoof.length));
    await until(() => gw.router.counters.spoofed === 1, 'spoofed packet counted');
    assert.ok(!gw.tun.written.some((p) => p.equals(spoof)));
    // Router -> session over DTLS too (the TUN side of the gateway).
    const down = ipv4Packet('192.0.2.9', '10.9.0.2', 'via router');
    gw.tun.inject([down]);
    await until(() => c.got.some((p) => p.equals(down)), 'routed packet');
    // forget() ends it: the client's data no longer reaches the TUN, and the id is no longer known.
    gw.listener.forget(fs.tunnel);
    assert.equal(fs.tunnel.dtls!.channel, null);
    assert.equal(fs.tunnel.channelName, 'TLS');
  });
}

test('DtlsListener: datagrams from unknown peers are dropped and counted, and start no handshake', async (t) => {
  const gw = await startListener(t);
  const known = fakeSession(1, 'psk');
  const notConnected = fakeSession(2, 'psk', LOCAL, false);
  gw.listener.expect(known.session, known.tunnel);
  gw.listener.expect(notConnected.session, notConnected.tunnel);
  const c = await Client.open(t);
  const port = gw.listener.port;
  const stranger = fakeSession(3, 'psk'); // never announced with expect()
  const sends = [
    randomBytes(100), // garbage
    Buffer.alloc(0), // empty
    attackerClientHello(stranger), // a ClientHello for an id the gateway never handed out
    attackerClientHello(notConnected), // CONNECT not completed (ocserv #706)
    attackerClientHello(known).subarray(0, 40), // truncated ClientHello of a known session
  ];
  for (const s of sends) c.send(s, port);
  await until(() => gw.listener.counters.unknownPeer === sends.length, 'all counted');
  assert.equal(gw.listener.counters.rxDatagrams, sends.length);
  assert.equal(gw.listener.counters.handshakesStarted, 0);
  assert.equal(gw.listener.pendingHandshakes, 0);
});

for (const mode of ['psk', 'resume'] as const) {
  test(`DtlsListener (${mode}): a replayed session id never replaces the live association`, async (t) => {
    const gw = await startListener(t, { timeoutMs: 1500 });
    const fs = fakeSession(1, mode);
    gw.router.attach(fs.session.address!, fs.tunnel);
    gw.listener.expect(fs.session, fs.tunnel);
    const user = await Client.open(t);
    user.connect(fs, gw.listener.port);
    await until(() => user.established && fs.tunnel.dtls!.channel !== null, 'handshake');
    const live = fs.tunnel.dtls!.channel;
    const port = gw.listener.port;

    // 1. From another port, a full handshake with the right id and a wrong key: it fails (PSK:
    //    the attacker's Finished does not verify; resume: the attacker cannot read our Finished,
    //    so it never answers and the handshake times out). The live association is untouched.
    const attacker = await Client.open(t);
    attacker.connect(fs, port, { wrongKey: true });
    await until(() => gw.listener.counters.handshakesFailed === 1, 'attacker handshake failed');
    assert.equal(attacker.established, false);
    attacker.channel!.close(); // (a resume-mode attacker would retry its ClientHello for a minute)
    await until(() => gw.listener.pendingHandshakes === 0, 'attacker gone');
    assert.equal(fs.tunnel.dtls!.channel, live);
    await roundTrip(gw, fs, user, 'after failed replay');

    // 2. A bare ClientHello from another port, never followed up: pending, and the live
    //    association carries data meanwhile.
    const silent = await Client.open(t);
    silent.send(attackerClientHello(fs), port);
    await until(() => gw.listener.pendingHandshakes === 1, 'pending handshake');
    await roundTrip(gw, fs, user, 'while a replay is pending');
    // Garbage after the ClientHello goes to the pending handshake, not to the live association.
    silent.send(randomBytes(64), port);
    await roundTrip(gw, fs, user, 'after garbage');
    assert.equal(fs.tunnel.dtls!.channel, live);

    // 3. The same ClientHello sent from the live association's own address and port (a spoofed
    //    source): a second pending handshake on that address; data still goes to the live one.
    user.send(attackerClientHello(fs), port);
    await until(() => gw.listener.pendingHandshakes === 2, 'pending handshake on the live port');
    await roundTrip(gw, fs, user, 'while a replay on the live port is pending');

    // Both pending handshakes end at their deadline; nothing was replaced.
    await until(() => gw.listener.pendingHandshakes === 0, 'pending handshakes timed out');
    const c = gw.listener.counters;
    assert.ok(c.handshakesStarted >= 4, `started ${c.handshakesStarted}`);
    assert.equal(c.handshakesOk, 1);
    assert.equal(c.handshakesFailed, c.handshakesStarted - 1, 'every other handshake failed');
    assert.equal(c.replaced, 0);
    assert.equal(fs.tunnel.dtls!.channel, live);
    assert.ok(live!.established);
    await roundTrip(gw, fs, user, 'after the replays timed out');
    // The failures were logged (the first at once; the rest within the interval are counted).
    assert.ok(gw.logs.some((l) => l['msg'] === 'DTLS handshake failed' && l['session'] === 1));
  });

  test(`DtlsListener (${mode}): a legitimate new handshake replaces the association when it completes`, async (t) => {
    const gw = await startListener(t);
    const fs = fakeSession(1, mode);
    gw.router.attach(fs.session.address!, fs.tunnel);
    gw.listener.expect(fs.session, fs.tunnel);
    const port = gw.listener.port;
    const first = await Client.open(t);
    first.connect(fs, port);
    await until(() => first.established && fs.tunnel.dtls!.channel !== null, 'first handshake');
    const firstChannel = fs.tunnel.dtls!.channel!;
    await roundTrip(gw, fs, first, 'first');

    // Client restart on a new port: the old association stays until the new one is up.
    const second = await Client.open(t);
    second.connect(fs, port);
    await until(() => second.established && gw.listener.counters.replaced === 1, 'second handshake');
    assert.notEqual(fs.tunnel.dtls!.channel, firstChannel);
    assert.equal(firstChannel.isOpen, false);
    assert.equal(fs.tunnel.dtls!.peer, `${LOCAL}:${second.port}`);
    await roundTrip(gw, fs, second, 'after restart');

    // Rekey on the same port: a new ClientHello on the live address.
    const secondChannel = fs.tunnel.dtls!.channel!;
    second.connect(fs, port);
    await until(() => second.established && gw.listener.counters.replaced === 2, 'rekey on the same port');
    assert.notEqual(fs.tunnel.dtls!.channel, secondChannel);
    assert.equal(fs.tunnel.dtls!.peer, `${LOCAL}:${second.port}`);
    await roundTrip(gw, fs, second, 'after rekey');
    assert.equal(gw.listener.counters.handshakesOk, 3);
  });
}

test('DtlsListener: pending handshakes are bounded per session and in total', async (t) => {
  // The session's TLS connection came from elsewhere: ClientHellos from 127.0.0.1 get no priority.
  const gw = await startListener(t, { perSession: 2, total: 3 });
  const a = fakeSession(1, 'psk', '192.0.2.50');
  const b = fakeSession(2, 'psk', '192.0.2.51');
  gw.listener.expect(a.session, a.tunnel);
  gw.listener.expect(b.session, b.tunnel);
  const port = gw.listener.port;
  const socks = await Promise.all([0, 1, 2, 3, 4].map(() => Client.open(t)));
  socks[0]!.send(attackerClientHello(a), port);
  socks[1]!.send(attackerClientHello(a), port);
  await until(() => gw.listener.pendingHandshakes === 2, 'two pending for a');
  socks[2]!.send(attackerClientHello(a), port);
  await until(() => gw.listener.counters.handshakesRefused === 1, 'third for a refused (per session)');
  socks[3]!.send(attackerClientHello(b), port);
  await until(() => gw.listener.pendingHandshakes === 3, 'one pending for b');
  socks[4]!.send(attackerClientHello(b), port);
  await until(() => gw.listener.counters.handshakesRefused === 2, 'fourth in all refused (total)');
  assert.equal(gw.listener.pendingHandshakes, 3);
});

test('DtlsListener: when a session is full, its own client (from the TLS address) evicts a pending handshake from elsewhere, and completes', async (t) => {
  const gw = await startListener(t, { perSession: 2 });
  // The TLS connection's address as a dual-stack socket reports it.
  const fs = fakeSession(1, 'psk', '::ffff:127.0.0.1');
  gw.router.attach(fs.session.address!, fs.tunnel);
  gw.listener.expect(fs.session, fs.tunnel);
  const port = gw.listener.port;
  // Another address (127.0.0.0/8 is all loopback) fills the session with pending handshakes.
  const junk = await Promise.all([0, 1, 2].map(() => Client.open(t, '127.0.0.2')));
  junk[0]!.send(attackerClientHello(fs), port);
  junk[1]!.send(attackerClientHello(fs), port);
  await until(() => gw.listener.pendingHandshakes === 2, 'session full');
  junk[2]!.send(attackerClientHello(fs), port);
  await until(() => gw.listener.counters.handshakesRefused === 1, 'refused from the other address');
  const user = await Client.open(t);
  user.connect(fs, port);
  await until(() => user.established && fs.tunnel.dtls!.channel !== null, 'user handshake');
  assert.equal(gw.listener.counters.handshakesRefused, 1);
  assert.equal(gw.listener.pendingHandshakes, 1, 'one pending handshake from 127.0.0.2 was evicted');
  await roundTrip(gw, fs, user, 'user through a full session');
});

test('DtlsListener: a session full of pending handshakes from its own address still lets its client through', async (t) => {
  const gw = await startListener(t, { perSession: 2 });
  const fs = fakeSession(1, 'psk', LOCAL);
  gw.router.attach(fs.session.address!, fs.tunnel);
  gw.listener.expect(fs.session, fs.tunnel);
  const port = gw.listener.port;
  // A neighbour behind the same address (or a spoofed source) fills the session first.
  const junk = await Promise.all([0, 1].map(() => Client.open(t)));
  for (const j of junk) j.send(attackerClientHello(fs), port);
  await until(() => gw.listener.pendingHandshakes === 2, 'session full');
  const user = await Client.open(t);
  user.connect(fs, port);
  await until(() => user.established && fs.tunnel.dtls!.channel !== null, 'user handshake');
  assert.equal(gw.listener.counters.handshakesRefused, 0);
  assert.equal(gw.listener.pendingHandshakes, 1, 'the oldest pending handshake was evicted');
  await roundTrip(gw, fs, user, 'user through a session full of its own address');
});
