/**
 * One CSTP frame per TLS record (PROTOCOL.md §5.3, quirk 16), checked on the wire: a real Node
 * TLS server runs a gateway CstpChannel, a raw TCP relay in front of it reads the TLS record
 * headers going to the client, and every application-data record must carry exactly the next
 * frame. TLS 1.2 with AES-128-GCM keeps it exact: handshake and tickets are not application-data
 * records there, and every record is its plaintext plus 24 bytes (8 nonce + 16 tag).
 *
 * The regression: runs of equal-sized frames set OpenSSL's max_send_fragment to the frame size,
 * which also lowers split_send_fragment for good; after a run of 1036-byte frames (1000-byte UDP
 * payloads) every 1431-byte frame went out as 1036 + 395, and openconnect dropped the tunnel.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tls from 'node:tls';
import { CstpChannel } from '../../src/tunnel/cstp-channel.js';
import { EC_KEY, openssl } from '../helpers/pki.js';
import { seeded } from '../helpers/seed.js';

const RUN_FRAME = 1431; // MTU 1423 + 8
const UDP_FRAME = 1036; // 1000-byte UDP payload + 28 + 8
const GCM12_OVERHEAD = 24;

interface Bed {
  channel: CstpChannel;
  /** plaintext sizes of the application-data records sent to the client, in order */
  records: number[];
  /** CSTP frame sizes the client decoded, in order */
  frames: number[];
  /** socket.write calls by the channel (fewer than frames: runs were written) */
  writes: { n: number };
  close(): void;
}

async function makeCert(): Promise<{ key: Buffer; cert: Buffer }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cstp-records-'));
  try {
    await openssl(['req', '-x509', ...EC_KEY, '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=cstp-records'], dir);
    return { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function bed(pki: { key: Buffer; cert: Buffer }, runFrame: number | undefined): Promise<Bed> {
  const records: number[] = [];
  const frames: number[] = [];
  const sockets: net.Socket[] = [];
  const writes = { n: 0 };
  let resolveChannel!: (c: CstpChannel) => void;
  const channelP = new Promise<CstpChannel>((r) => (resolveChannel = r));
  const server = tls.createServer({ ...pki, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }, (sock) => {
    sockets.push(sock);
    const write = sock.write.bind(sock) as (b: Buffer, cb: (e?: Error | null) => void) => boolean;
    (sock as { write: unknown }).write = (b: Buffer, cb: (e?: Error | null) => void): boolean => {
      writes.n++;
      return write(b, cb);
    };
    resolveChannel(new CstpChannel(sock, {
      role: 'gateway', maxPayload: 4096, runFrame, dpd: 0, keepalive: 0, queueLimit: 1 << 20,
      onPacket: () => undefined, onClose: () => undefined,
    }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // The relay: client <-> relay <-> server, parsing record headers server -> client.
  const relay = net.createServer((c) => {
    sockets.push(c);
    const s = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    sockets.push(s);
    c.pipe(s);
    let acc: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      c.write(d);
      acc = acc.length ? Buffer.concat([acc, d]) : d;
      while (acc.length >= 5) {
        const len = acc.readUInt16BE(3);
        if (acc.length < 5 + len) break;
        if (acc[0] === 23) records.push(len - GCM12_OVERHEAD);
        acc = acc.subarray(5 + len);
      }
    });
    for (const x of [c, s]) x.on('error', () => undefined);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const client = tls.connect({ port: (relay.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false });
  sockets.push(client);
  client.on('error', () => undefined);
  let buf: Buffer = Buffer.alloc(0);
  client.on('data', (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= 8) {
      const len = buf.readUInt16BE(4);
      if (buf.length < 8 + len) break;
      frames.push(8 + len);
      buf = buf.subarray(8 + len);
    }
  });
  const channel = await channelP;
  return {
    channel, records, frames, writes,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
      relay.close();
    },
  };
}

/** Sends payloads of the given sizes in bursts (one burst per turn), then waits for `expect` frames. */
async function drive(b: Bed, bursts: number[][], expect: number): Promise<void> {
  for (const burst of bursts) {
    for (const len of burst) b.channel.sendPacket(Buffer.alloc(len, len & 0xff), 0, len);
    await new Promise((r) => setImmediate(r));
  }
  while (b.frames.length < expect) await new Promise((r) => setTimeout(r, 5));
}

const pkiP = makeCert();

test('a larger frame after a run of smaller equal frames is still one record', { timeout: 60_000 }, async () => {
  const b = await bed(await pkiP, RUN_FRAME);
  try {
    const p = [RUN_FRAME - 8, UDP_FRAME - 8];
    // 1036-byte runs, then full-size frames alone and in runs, then 1036 again.
    const bursts = [[p[1]!, p[1]!, p[1]!], [p[0]!], [p[1]!, p[1]!, p[0]!], [p[0]!, p[0]!, p[0]!], [p[1]!, p[1]!], [p[0]!]];
    const sent = bursts.flat().map((l) => l + 8);
    await drive(b, bursts, sent.length);
    assert.deepEqual(b.frames, sent);
    assert.deepEqual(b.records, sent, 'TLS record sizes differ from CSTP frame sizes: a frame was split or merged');
  } finally {
    b.close();
  }
});

for (const runFrame of [RUN_FRAME, undefined]) {
  test(`random mix of frame sizes and bursts (runs ${runFrame ? 'on' : 'off'}): one frame per record`, { timeout: 60_000 }, async () => {
    const rnd = seeded(`cstp-records ${runFrame ?? 'none'}`);
    const b = await bed(await pkiP, runFrame);
    try {
      const bursts: number[][] = [];
      for (let i = 0; i < 300; i++) {
        const burst: number[] = [];
        const n = 1 + rnd.int(40);
        for (let j = 0; j < n; j++) {
          const r = rnd.int(10);
          // full-size (bulk TCP), 1000-byte UDP, anything from 1 byte up to the MTU
          burst.push(r < 4 ? RUN_FRAME - 8 : r < 8 ? UDP_FRAME - 8 : 1 + rnd.int(RUN_FRAME - 8));
        }
        bursts.push(burst);
      }
      const sent = bursts.flat().map((l) => l + 8);
      await drive(b, bursts, sent.length);
      assert.deepEqual(b.frames, sent);
      assert.equal(b.records.length, sent.length, 'more TLS records than frames: frames were split');
      assert.deepEqual(b.records, sent);
      assert.equal(b.channel.counters.txDrops, 0);
      // The runs must have happened, or this test proves nothing about them.
      if (runFrame) assert.ok(b.writes.n < sent.length, `no runs: ${b.writes.n} writes for ${sent.length} frames`);
      else assert.equal(b.writes.n, sent.length);
    } finally {
      b.close();
    }
  });
}

test('a TUN batch of full frames and a shorter tail is one write, still one frame per record', { timeout: 60_000 }, async () => {
  const b = await bed(await pkiP, RUN_FRAME);
  try {
    const full = RUN_FRAME - 8;
    // One batch (one turn): the whole batch is one write, its shorter last frame included.
    await drive(b, [[full, full, full, 200]], 4);
    assert.deepEqual(b.records, [RUN_FRAME, RUN_FRAME, RUN_FRAME, 208]);
    assert.equal(b.writes.n, 1, 'the batch was not written at once');
    // Only the last frame of a run may be shorter: a full frame after it starts a new write.
    await drive(b, [[full, 300, full, 100, 50]], 9);
    assert.deepEqual(b.records.slice(4), [RUN_FRAME, 308, RUN_FRAME, 108, 58]);
    assert.deepEqual(b.frames, b.records);
    assert.equal(b.writes.n, 4, 'expected [full, 300] [full, 100] [50]');
  } finally {
    b.close();
  }
});

test('after a run, a frame over the run size is dropped and counted, never split', { timeout: 60_000 }, async () => {
  const b = await bed(await pkiP, RUN_FRAME);
  try {
    const full = RUN_FRAME - 8;
    await drive(b, [[full, full, full]], 3);
    await drive(b, [[full + 100, 200]], 4);
    assert.deepEqual(b.records, [RUN_FRAME, RUN_FRAME, RUN_FRAME, 208]);
    assert.deepEqual(b.frames, b.records);
    assert.equal(b.channel.counters.txDrops, 1);
  } finally {
    b.close();
  }
});

test('before any run, a frame over the run size goes out whole', { timeout: 60_000 }, async () => {
  const b = await bed(await pkiP, RUN_FRAME);
  try {
    await drive(b, [[3000], [RUN_FRAME - 8]], 2);
    assert.deepEqual(b.records, [3008, RUN_FRAME]);
    assert.equal(b.channel.counters.txDrops, 0);
  } finally {
    b.close();
  }
});
