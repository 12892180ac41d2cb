/**
 * ClientDtls (src/client/dtls-session.ts) over real UDP on 127.0.0.1 against a DtlsServer in a
 * DtlsChannel (no root needed): the association comes up (PSK-NEGOTIATE and DTLS 0.9), packets
 * flow both ways, stop() sends close_notify; an ICMP port unreachable does not crash it and the
 * attempts go on; when the gateway goes silent, dead peer detection reports DTLS down and a new
 * round starts at once on a new socket.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { DTLS0_9, DtlsServer, SuiteId, lookupDtlsCipherName, type DtlsServerOptions } from '../../src/dtls/index.js';
import { DtlsChannel, type DtlsCloseReason } from '../../src/tunnel/dtls-channel.js';
import type { DtlsPlan } from '../../src/client/dtls-offer.js';
import { ClientDtls } from '../../src/client/dtls-session.js';
import { Progress } from '../../src/client/progress.js';

const PSK = Buffer.alloc(32, 7);
const APP_ID = Buffer.alloc(32, 9);
const SESSION_ID = Buffer.alloc(32, 5);
const MASTER = Buffer.alloc(48, 6);

function progress(lines: string[]): Progress {
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return new Progress({ verbosity: 2, dumpHttp: false, out });
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A one-association gateway: answers the first ClientHello, echoes nothing by itself. */
interface Gw {
  sock: Socket;
  port: number;
  got: Buffer[];
  closed: DtlsCloseReason[];
  channel: () => DtlsChannel | null;
  /** source ports seen */
  peers: Set<number>;
  /** stop answering (datagrams are still counted in peers) */
  silent: boolean;
}

async function gateway(opts: DtlsServerOptions, dpd: number): Promise<Gw> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const got: Buffer[] = [];
  const closed: DtlsCloseReason[] = [];
  const peers = new Set<number>();
  let ch: DtlsChannel | null = null;
  const gw: Gw = { sock, port: (sock.address() as { port: number }).port, got, closed, channel: () => ch, peers, silent: false };
  sock.on('message', (msg, rinfo) => {
    peers.add(rinfo.port);
    if (gw.silent) return;
    if (!ch) {
      ch = new DtlsChannel({
        endpoint: new DtlsServer(opts),
        role: 'gateway',
        send: (d) => sock.send(d, rinfo.port, rinfo.address),
        dpd,
        keepalive: 0,
        onPacket: (b, s, e) => got.push(Buffer.from(b.subarray(s, e))),
        onEstablished: () => undefined,
        onClose: (why) => closed.push(why),
      });
    }
    ch.handleDatagram(msg);
  });
  return gw;
}

function plan(port: number, mode: 'psk' | 'd09', dpd = 30): DtlsPlan {
  const setup = mode === 'psk' ? lookupDtlsCipherName('X-DTLS-CipherSuite', 'PSK-NEGOTIATE')! : lookupDtlsCipherName('X-DTLS-CipherSuite', 'AES128-SHA')!;
  return { setup, header: 'X-DTLS-CipherSuite', port, dpd, keepalive: 0, mtu: null, sessionId: mode === 'psk' ? null : SESSION_ID, masterSecret: MASTER, appId: mode === 'psk' ? APP_ID : null };
}

for (const mode of ['psk', 'd09'] as const) {
  test(`${mode}: up, packets both ways, close_notify on stop`, async () => {
    const serverOpts: DtlsServerOptions =
      mode === 'psk'
        ? { role: 'server', mode: 'psk', psk: PSK, appId: APP_ID }
        : { role: 'server', mode: 'resume', version: DTLS0_9, suite: SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA, sessionId: SESSION_ID, masterSecret: MASTER };
    const gw = await gateway(serverOpts, 30);
    const lines: string[] = [];
    const received: Buffer[] = [];
    const events: string[] = [];
    const d = new ClientDtls({
      plan: plan(gw.port, mode),
      psk: mode === 'psk' ? PSK : null,
      gateway: '127.0.0.1',
      progress: progress(lines),
      onPacket: (b, s, e) => received.push(Buffer.from(b.subarray(s, e))),
      onUp: (info) => events.push(`up ${info.suiteName}`),
      onDown: (why) => events.push(`down ${why}`),
      onFallback: (why) => events.push(`fallback ${why}`),
    });
    try {
      assert.equal(d.sendPacket(Buffer.from('x'), 0, 1), false, 'not up yet');
      d.start();
      await until(() => d.up, 'DTLS up');
      assert.match(events[0]!, mode === 'psk' ? /^up TLS_PSK_WITH_AES_256_GCM_SHA384$/ : /^up TLS_RSA_WITH_AES_128_CBC_SHA$/);
      assert.match(lines.join('\n'), /DTLS attempt 1 of 6: ClientHello to 127\.0\.0\.1:\d+, round 1 \+\d+ ms/);
      const pkt = Buffer.from('45000014000000004001000001020304050607', 'hex');
      const slab = Buffer.alloc(100);
      pkt.copy(slab, 10);
      assert.equal(d.sendPacket(slab, 10, pkt.length), true);
      await until(() => gw.got.length === 1, 'packet at the gateway');
      assert.deepEqual(gw.got[0], pkt);
      assert.ok(gw.channel()!.sendPacket(pkt, 0, pkt.length));
      await until(() => received.length === 1, 'packet at the client');
      assert.deepEqual(received[0], pkt);
      const t = d.totals();
      assert.deepEqual([t.txPackets, t.rxPackets, t.handshakes], [1, 1, 1]);
      d.stop();
      await until(() => gw.closed.length === 1, 'close_notify at the gateway');
      assert.equal(gw.closed[0]!.kind, 'peer-closed');
      assert.equal(d.sendPacket(slab, 10, pkt.length), false);
      assert.deepEqual(d.totals(), { txPackets: 1, rxPackets: 1, txBytes: pkt.length, rxBytes: pkt.length, handshakes: 1 });
    } finally {
      d.stop();
      gw.sock.close();
    }
  });
}

test('ICMP port unreachable: no crash, logged once, the retries go on', async () => {
  const probe = createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  probe.close(); // nothing listens there now
  const lines: string[] = [];
  const d = new ClientDtls({ plan: plan(port, 'psk'), psk: PSK, gateway: '127.0.0.1', progress: progress(lines), onPacket: () => undefined, onUp: () => undefined, onDown: () => undefined, onFallback: () => undefined });
  try {
    d.start();
    await until(() => lines.some((l) => l.startsWith('DTLS attempt 2 of 6')), 'the first retry', 3000);
    const text = lines.join('\n');
    assert.match(text, /DTLS attempt 2 of 6: ClientHello to 127\.0\.0\.1:\d+ \(retry 1, \d+ ms after attempt 1\)/);
    assert.equal(text.match(/refused UDP \(ICMP port unreachable\)/g)?.length, 1, text);
    assert.equal(d.up, false);
  } finally {
    d.stop();
  }
});

test('the gateway goes silent: DTLS down after 2 x DPD, a new round at once from a new port', async () => {
  const gw = await gateway({ role: 'server', mode: 'psk', psk: PSK, appId: APP_ID }, 30);
  const lines: string[] = [];
  const events: string[] = [];
  const d = new ClientDtls({
    plan: plan(gw.port, 'psk', 1),
    psk: PSK,
    gateway: '127.0.0.1',
    progress: progress(lines),
    onPacket: () => undefined,
    onUp: () => events.push('up'),
    onDown: (why) => events.push(`down: ${why}`),
    onFallback: (why) => events.push(`fallback: ${why}`),
  });
  try {
    d.start();
    await until(() => d.up, 'DTLS up');
    gw.silent = true; // DPD requests unanswered from now on
    await until(() => events.length === 2, 'DTLS down', 6000);
    assert.equal(events[1], 'down: no DTLS traffic from the gateway for 2 s (dead peer detection)');
    assert.equal(d.up, false);
    await until(() => lines.some((l) => /DTLS attempt 1 of 6: .*round 2 \+\d+ ms/.test(l)), 'round 2');
    await until(() => gw.peers.size === 2, 'a datagram from a second source port');
  } finally {
    d.stop();
    gw.sock.close();
  }
});
