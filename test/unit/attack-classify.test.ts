/**
 * The attack drill's attackers (bench/attack/attackers/) must tell a gateway that stops them from
 * one that does not, or the drill could pass against anything. Loopback TLS servers play the
 * gateway's possible answers: reset each connection at accept, cut it off after some input,
 * half-close but keep reading, stop reading, hold every connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { generateSelfSigned } from '../../src/gateway/tls-cert.js';
import { attackWindow } from '../../bench/attack/attackers/net.js';
import { pipeline } from '../../bench/attack/attackers/pipeline.js';
import { slowloris } from '../../bench/attack/attackers/slowloris.js';

const identity = generateSelfSigned('127.0.0.1', { ip: ['127.0.0.1'] });

async function tlsServer(onSecure: (s: TLSSocket) => void): Promise<{ server: Server; port: number; sockets: Set<TLSSocket> }> {
  const { certPem, keyPem } = await identity;
  const sockets = new Set<TLSSocket>();
  const server = createServer({ cert: certPem, key: keyPem }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onSecure(s);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

async function close(server: Server | TcpServer, sockets: Iterable<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
}

function windowOf(ms: number): number {
  attackWindow.endAt = Date.now() + ms;
  attackWindow.stoppedEarly = false;
  return attackWindow.endAt;
}

const pipelineOpts = (port: number, endAt: number) => ({
  host: '127.0.0.1',
  port,
  localAddress: '127.0.0.1',
  connections: 2,
  requestsPerConnection: 2000,
  batch: 100,
  endAt,
  trickleEveryMs: 500,
});

test('pipelining: a gateway that cuts the connection off after some input -> cut-off', async () => {
  const srv = await tlsServer((s) => {
    let n = 0;
    s.on('data', (d: Buffer) => {
      n += d.length;
      if (n > 20_000) s.destroy();
    });
  });
  try {
    const r = await pipeline(pipelineOpts(srv.port, windowOf(4000)), () => undefined);
    assert.deepEqual(r.connections.map((c) => c.outcome), ['cut-off', 'cut-off']);
  } finally {
    await close(srv.server, srv.sockets);
  }
});

test('pipelining: a gateway that half-closes but keeps reading -> half-closed (not stopped)', async () => {
  const srv = await tlsServer((s) => {
    s.once('data', () => s.end('HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n'));
    s.on('data', () => undefined);
  });
  try {
    const r = await pipeline(pipelineOpts(srv.port, windowOf(3000)), () => undefined);
    assert.deepEqual(r.connections.map((c) => c.outcome), ['half-closed', 'half-closed']);
  } finally {
    await close(srv.server, srv.sockets);
  }
});

test('pipelining: a gateway that stops reading and never closes -> open at the end, stalled', async () => {
  const srv = await tlsServer((s) => s.pause());
  try {
    // Far more than loopback's socket buffers hold: the writes must stall.
    const r = await pipeline({ ...pipelineOpts(srv.port, windowOf(7000)), requestsPerConnection: 200_000 }, () => undefined);
    assert.deepEqual(r.connections.map((c) => c.outcome), ['open-at-end', 'open-at-end']);
    assert.ok(r.connections.every((c) => c.stalled), JSON.stringify(r.connections));
  } finally {
    await close(srv.server, srv.sockets);
  }
});

test('slowloris: every connection reset at accept -> all refused, none admitted', async () => {
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const endAt = windowOf(3000);
    const r = await slowloris(
      { host: '127.0.0.1', port: (server.address() as AddressInfo).port, localAddress: '127.0.0.1', connections: 9, rampEndAt: endAt - 1500, endAt, byteEveryMs: 200, parallel: 9 },
      () => undefined,
    );
    assert.equal(r.admitted, 0);
    assert.equal(r.openAtEnd, 0);
    assert.ok(r.refused >= 9, JSON.stringify(r));
    assert.equal(r.neverAdmitted, 9);
  } finally {
    await close(server, sockets);
  }
});

test('slowloris: a gateway that holds every connection -> all open at the end; one that closes them -> closed by the gateway', async () => {
  const held = await tlsServer(() => undefined);
  const sockets = new Set<Socket>();
  // Plain TCP, closing each connection 2 s after accept: past the attacker's refuse window.
  const closing = createTcpServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    setTimeout(() => s.destroy(), 2000);
  });
  await new Promise<void>((r) => closing.listen(0, '127.0.0.1', r));
  try {
    let endAt = windowOf(3500);
    const a = await slowloris({ host: '127.0.0.1', port: held.port, localAddress: '127.0.0.1', connections: 6, rampEndAt: endAt - 2500, endAt, byteEveryMs: 200, parallel: 6 }, () => undefined);
    assert.equal(a.admitted, 6, JSON.stringify(a));
    assert.equal(a.openAtEnd, 6);
    endAt = windowOf(4500);
    // tcp-silent and tls-trickle slots only (3 flavours rotate; 2 slots = the two TCP-level ones).
    const b = await slowloris({ host: '127.0.0.1', port: (closing.address() as AddressInfo).port, localAddress: '127.0.0.1', connections: 2, rampEndAt: endAt - 3500, endAt, byteEveryMs: 200, parallel: 2 }, () => undefined);
    assert.equal(b.admitted, 2, JSON.stringify(b));
    assert.equal(b.closedByGateway, 2);
    assert.equal(b.openAtEnd, 0);
  } finally {
    await close(held.server, held.sockets);
    await close(closing, sockets);
  }
});
