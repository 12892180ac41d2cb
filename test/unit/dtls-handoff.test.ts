/**
 * The privileged process's DTLS hand-off (workers > 1, priv/dtls-handoff.ts), with real UDP
 * sockets on loopback and a fake worker side: which ClientHellos make a connected socket for
 * which worker, which are forwarded on the channel, and which are dropped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { DtlsHandoff } from '../../src/gateway/priv/dtls-handoff.js';
import type { WorkerHandleMessage, WorkerReply } from '../../src/gateway/priv/worker-messages.js';
import { createLogger } from '../../src/log.js';

async function boundSocket(): Promise<Socket> {
  const s = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

test('a ClientHello for another worker\'s session gets that worker a socket connected to the peer; retransmissions go on the channel', async () => {
  const port = await boundSocket(); // the DTLS port's own socket (worker 0's)
  const peer = await boundSocket();
  const handed: Array<{ w: number; m: WorkerHandleMessage; remote: string; local: number }> = [];
  const replies: Array<{ w: number; m: WorkerReply }> = [];
  const h = new DtlsHandoff(
    '127.0.0.1',
    port.address().port,
    {
      sendHandle: async (w, m, sock) => {
        const r = sock.remoteAddress();
        handed.push({ w, m, remote: `${r.address}:${r.port}`, local: sock.address().port });
      },
      reply: (w, m) => replies.push({ w, m }),
    },
    createLogger({ level: 'silent' }),
    { maxIds: 2, maxPeers: 4 },
  );
  try {
    const id = 'ab'.repeat(32);
    const peerAddr = peer.address();
    h.hello(id, '127.0.0.1', peerAddr.port, 'AAEC', 0);
    assert.equal(h.counters.unknown, 1, 'an id nobody announced is dropped');

    h.idChanged(id, true, 1);
    h.hello(id, '127.0.0.1', peerAddr.port, 'AAEC', 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(handed.length, 1);
    assert.deepEqual(handed[0], { w: 1, m: { t: 'dtls-socket', address: '127.0.0.1', port: peerAddr.port, data: 'AAEC' }, remote: `127.0.0.1:${peerAddr.port}`, local: port.address().port });

    // The same peer again before its socket took over: forwarded to the same worker, no new socket.
    h.hello(id, '127.0.0.1', peerAddr.port, 'AQID', 0);
    assert.deepEqual(replies, [{ w: 1, m: { t: 'dtls-forward', address: '127.0.0.1', port: peerAddr.port, data: 'AQID' } }]);
    assert.equal(handed.length, 1);

    // The worker closed that socket: the next ClientHello makes a new one.
    h.peerClosed('127.0.0.1', peerAddr.port, 1);
    h.hello(id, '127.0.0.1', peerAddr.port, 'AAEC', 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(handed.length, 2);

    // A worker cannot drop another's id; its owner can.
    h.idChanged(id, false, 2);
    h.hello(id, '127.0.0.1', peerAddr.port + 1, 'AAEC', 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(handed.length, 3);
    h.idChanged(id, false, 1);
    const unknown = h.counters.unknown;
    h.hello(id, '127.0.0.1', peerAddr.port + 2, 'AAEC', 0);
    assert.equal(h.counters.unknown, unknown + 1);

    // Bounded: ids beyond maxIds are refused; a ClientHello for the port owner's own id too.
    h.idChanged('01'.repeat(32), true, 1);
    h.idChanged('02'.repeat(32), true, 1);
    h.idChanged('03'.repeat(32), true, 1);
    assert.equal(h.counters.refused, 1);
    h.idChanged('04'.repeat(32), true, 0);
    h.hello('04'.repeat(32), '127.0.0.1', peerAddr.port, 'AAEC', 0);
    assert.equal(h.counters.handedOff, 3);
  } finally {
    port.close();
    peer.close();
  }
});

test('port bound to 0.0.0.0: the peer socket is bound to the address the ClientHello came to (local), else to the port\'s address', async () => {
  const port = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => port.bind(0, '0.0.0.0', () => r()));
  const peer = await boundSocket();
  const bound: string[] = [];
  const mk = (host: string): DtlsHandoff =>
    new DtlsHandoff(
      host,
      port.address().port,
      { sendHandle: async (_w, _m, sock) => void bound.push(sock.address().address), reply: () => undefined },
      createLogger({ level: 'silent' }),
      { maxIds: 4, maxPeers: 4 },
    );
  try {
    const id = 'cd'.repeat(32);
    const wild = mk('0.0.0.0');
    wild.idChanged(id, true, 1);
    wild.hello(id, '127.0.0.1', peer.address().port, 'AAEC', 0, '127.0.0.9');
    const until = async (n: number): Promise<void> => {
      for (let i = 0; i < 200 && bound.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(1);
    assert.deepEqual(bound, ['127.0.0.9'], 'bound to the VIP the client sent to');
    wild.peerClosed('127.0.0.1', peer.address().port, 1);
    wild.hello(id, '127.0.0.1', peer.address().port, 'AAEC', 0); // no local (pktinfo off): as before
    await until(2);
    assert.equal(bound[1], '127.0.0.1', 'bound to 0.0.0.0, connect() picked the routing source');
    assert.equal(wild.counters.failed, 0);
  } finally {
    port.close();
    peer.close();
  }
});
