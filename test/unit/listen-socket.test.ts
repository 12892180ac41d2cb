/**
 * native/listen.c: a listening socket bound outside Node. Connections wait in its queue until a
 * Node server adopts the descriptor (what `ctl restart` relies on), and a taken port is an error
 * with its code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { listenTcpSocket } from '../../src/os/tun.js';
import { seeded } from '../helpers/seed.js';

test('listenTcpSocket: clients queue before anyone accepts; a Node server adopts the fd; a taken port is EADDRINUSE', async () => {
  const port = 20_000 + seeded('listen-socket port').int(30_000);
  const fd = listenTcpSocket('127.0.0.1', port);
  let adopted = false;
  try {
    assert.throws(() => listenTcpSocket('127.0.0.1', port), (e: unknown) => (e as { code?: string }).code === 'EADDRINUSE' && (e as Error).message.includes(`127.0.0.1:${port}`));
    // Connected before any process accepts: the kernel completes the handshake into the queue.
    const client = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
    client.write('queued hello');
    const server = createServer();
    const got = new Promise<string>((resolve) => server.once('connection', (s) => s.once('data', (d) => resolve(d.toString()))));
    await new Promise<void>((resolve) => server.listen({ fd }, resolve));
    adopted = true;
    assert.equal(await got, 'queued hello');
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  } finally {
    // Once adopted, the server owns (and closed) the descriptor: its number may be reused already.
    if (!adopted) closeSync(fd);
  }
  assert.throws(() => listenTcpSocket('not-an-address', port), (e: unknown) => (e as { code?: string }).code === 'EINVAL');
});
