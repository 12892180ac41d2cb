/**
 * os/stream-user-buffer.ts on a real TLS connection: the server side of a TLS pair is switched to
 * a shared buffer after some bytes already arrived; every byte must come through the callback,
 * in order, none twice, whatever the write sizes (seeded), and 'data' must stop. On this Node
 * (20.x) the private slots must be found: if a Node upgrade removes them the gateway silently
 * goes back to 'data' chunks, and this test says so.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tls from 'node:tls';
import { readIntoUserBuffer } from '../../src/os/stream-user-buffer.js';
import { EC_KEY, openssl } from '../helpers/pki.js';
import { seeded } from '../helpers/seed.js';

test('a TLS server socket read into a shared buffer: every byte, in order, no more data events', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-ubuf-'));
  try {
    const key = path.join(dir, 'k.pem');
    const cert = path.join(dir, 'c.pem');
    await openssl(['req', '-x509', ...EC_KEY, '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '2', '-subj', '/CN=ubuf'], dir);
    const rnd = seeded('stream-user-buffer');
    const payload = rnd.bytes(3 * 1024 * 1024 + 17);
    const shared = Buffer.alloc(4096); // smaller than a TLS record: reads are cut to it
    const got = createHash('sha256');
    let received = 0;
    let dataAfter = 0;
    let switched = false;
    const done = new Promise<void>((resolve, reject) => {
      const server = tls.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (sock) => {
        let early = 0;
        const first = (d: Buffer): void => {
          got.update(d);
          received += d.length;
          early += d.length;
          if (early < 1000) return;
          sock.removeListener('data', first);
          sock.on('data', () => dataAfter++);
          switched = readIntoUserBuffer(sock, shared, (n, buf) => {
            assert.equal(buf, shared);
            got.update(buf.subarray(0, n));
            received += n;
          });
        };
        sock.on('data', first);
        sock.on('end', () => {
          server.close();
          resolve();
        });
        sock.on('error', reject);
      });
      server.listen(0, '127.0.0.1', () => {
        const c = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
          let off = 0;
          const step = (): void => {
            while (off < payload.length) {
              const n = Math.min(payload.length - off, 1 + rnd.int(20_000));
              const ok = c.write(payload.subarray(off, off + n));
              off += n;
              if (!ok) return void c.once('drain', step);
            }
            c.end();
          };
          step();
        });
        c.on('error', reject);
      });
    });
    await done;
    assert.ok(switched, 'the private read-buffer slots were not found on this Node');
    assert.equal(received, payload.length);
    assert.equal(got.digest('hex'), createHash('sha256').update(payload).digest('hex'));
    assert.equal(dataAfter, 0, "'data' events after the switch");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('SSLGATE_TLS_USER_BUFFER=0: nothing changes', () => {
  const before = process.env['SSLGATE_TLS_USER_BUFFER'];
  process.env['SSLGATE_TLS_USER_BUFFER'] = '0';
  try {
    const s = new net.Socket();
    assert.equal(readIntoUserBuffer(s, Buffer.alloc(16), () => undefined), false);
    s.destroy();
  } finally {
    if (before === undefined) delete process.env['SSLGATE_TLS_USER_BUFFER'];
    else process.env['SSLGATE_TLS_USER_BUFFER'] = before;
  }
});
