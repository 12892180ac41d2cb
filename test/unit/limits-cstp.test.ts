/**
 * Issue 9 §2, CSTP control frames: DPD answers and keepalives are under the same send-queue
 * limit as data. A peer that floods DPD requests and never reads is cut off with a reason
 * that says so; a peer that reads is not; DPD traffic does not count as data (the gateway's idle
 * timeout looks at rxPackets only). The socket is a fake whose writes complete only when the
 * test says so, like a TCP socket whose peer does not read. The channel writes at the end of the
 * callback that queued a frame (a microtask, cstp-channel.ts enqueue): `turn()` ends one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CstpType, encodeCstp } from '../../src/protocol/cstp.js';
import { CstpChannel, type ChannelCloseReason } from '../../src/tunnel/cstp-channel.js';

class StuckSocket extends EventEmitter {
  /** write callbacks not called yet: the bytes sit in a send buffer the peer does not drain */
  readonly pending: Array<(err?: Error | null) => void> = [];
  writes = 0;
  destroyed = false;
  constructor(private readonly drains: boolean) {
    super();
  }
  write(_buf: Buffer, cb: (err?: Error | null) => void): boolean {
    this.writes++;
    if (this.drains) cb();
    else this.pending.push(cb);
    return true;
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }
}

function open(sock: StuckSocket): { ch: CstpChannel; closed: ChannelCloseReason[] } {
  const closed: ChannelCloseReason[] = [];
  const ch = new CstpChannel(sock as unknown as Duplex, { role: 'gateway', maxPayload: 2048, dpd: 0, keepalive: 0, onPacket: () => undefined, onClose: (why) => closed.push(why) });
  return { ch, closed };
}

const dpdReq = (i: number): Buffer => encodeCstp(CstpType.DpdReq, Buffer.from(`p${i}`));
/** lets the microtasks run, as at the end of a socket or TUN callback */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a DPD flood from a peer that never reads closes the channel at the send-queue limit', async () => {
  const sock = new StuckSocket(false);
  const { ch, closed } = open(sock);
  ch.feed(dpdReq(0));
  await turn(); // its answer is the write in flight that never completes
  ch.feed(Buffer.concat(Array.from({ length: 4999 }, (_, i) => dpdReq(i + 1))));
  assert.equal(closed.length, 1);
  const why = closed[0]!;
  assert.equal(why.kind, 'protocol-error');
  assert.match(why.kind === 'protocol-error' ? why.error.message : '', /^peer does not read: 528 frames wait for the socket \(send queue limit 512\)$/);
  assert.equal(sock.destroyed, true);
  assert.equal(ch.queued, 0, 'the queue is dropped');
  assert.equal(sock.writes, 1, 'one write in flight, the rest never reached the socket');
  assert.equal(ch.counters.rxPackets, 0, 'DPD is not data');
  // 1 answer in flight + 528 queued, the 530th overflowed: the rest of the flood is not handled
  assert.equal(ch.counters.rxControl, 530);
});

test('a peer that reads may send as many DPD requests as it likes', async () => {
  const sock = new StuckSocket(true);
  const { ch, closed } = open(sock);
  for (let i = 0; i < 5000; i++) {
    ch.feed(dpdReq(i));
    await turn(); // one read per request
  }
  assert.deepEqual(closed, []);
  assert.equal(sock.writes, 5000, 'every request answered');
  assert.equal(ch.counters.rxPackets, 0);
  assert.equal(ch.counters.rxControl, 5000);
});

test('a full data queue drops data; a DPD answer still fits (slack), a stream of them does not', async () => {
  const sock = new StuckSocket(false);
  const { ch, closed } = open(sock);
  const pkt = Buffer.alloc(100);
  let sent = 0;
  if (ch.sendPacket(pkt, 0, pkt.length)) sent++;
  await turn(); // the first packet is the write in flight that never completes
  for (let i = 1; i < 600; i++) if (ch.sendPacket(pkt, 0, pkt.length)) sent++;
  assert.equal(sent, 513, 'one in flight + 512 queued, the rest tail-dropped');
  assert.equal(ch.counters.txDrops, 87);
  ch.feed(dpdReq(1));
  assert.equal(closed.length, 0, 'one DPD answer over a full data queue is fine');
  ch.feed(Buffer.concat(Array.from({ length: 20 }, (_, i) => dpdReq(i))));
  assert.equal(closed.length, 1);
  assert.equal(closed[0]!.kind, 'protocol-error');
});
