import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CstpDecoder, CstpType, encodeCstp, encodeDisconnect, CSTP_DPD_REQ, CSTP_KEEPALIVE, CSTP_TERMINATE, DisconnectReason } from '../../src/protocol/cstp.js';
import { seeded } from '../helpers/seed.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Byte examples from PROTOCOL.md §5.5.
test('control frames match the reference bytes', () => {
  assert.deepEqual(CSTP_DPD_REQ, hex('53 54 46 01 00 00 03 00'));
  assert.deepEqual(CSTP_KEEPALIVE, hex('53 54 46 01 00 00 07 00'));
  assert.deepEqual(CSTP_TERMINATE, hex('53 54 46 01 00 00 09 00'));
  assert.deepEqual(
    encodeDisconnect(DisconnectReason.User, 'Aborted by caller'),
    hex('53 54 46 01 00 12 05 00 b0 41 62 6f 72 74 65 64 20 62 79 20 63 61 6c 6c 65 72'),
  );
  assert.deepEqual(
    encodeDisconnect(DisconnectReason.Reconnect, 'Reconnecting the VPN tunnel.'),
    hex('53 54 46 01 00 1d 05 00 91 52 65 63 6f 6e 6e 65 63 74 69 6e 67 20 74 68 65 20 56 50 4e 20 74 75 6e 6e 65 6c 2e'),
  );
});

test('a DATA frame carries its payload length big-endian', () => {
  const ping = Buffer.alloc(84, 0x45);
  const f = encodeCstp(CstpType.Data, ping);
  assert.deepEqual(f.subarray(0, 8), hex('53 54 46 01 00 54 00 00'));
  assert.equal(f.length, 92);
});

function collect(max?: number): { frames: Array<[number, string]>; dec: CstpDecoder } {
  const frames: Array<[number, string]> = [];
  const dec = new CstpDecoder((t, b, s, e) => frames.push([t, b.toString('hex', s, e)]), max);
  return { frames, dec };
}

test('decoder: whole frames, split frames and byte-by-byte give the same result', () => {
  const stream = Buffer.concat([encodeCstp(0, Buffer.from('hello')), CSTP_DPD_REQ, encodeCstp(0, Buffer.alloc(1400, 7)), CSTP_KEEPALIVE]);
  const whole = collect();
  assert.equal(whole.dec.push(stream), null);
  for (const step of [1, 3, 7, 100, 1409]) {
    const c = collect();
    for (let i = 0; i < stream.length; i += step) assert.equal(c.dec.push(stream.subarray(i, i + step)), null);
    assert.deepEqual(c.frames, whole.frames, `step ${step}`);
  }
  assert.equal(whole.frames.length, 4);
  assert.deepEqual(whole.frames[1], [CstpType.DpdReq, '']);
});

test('decoder: bad magic, bad reserved byte and oversized frames are typed errors, then input is ignored', () => {
  const bad = collect();
  assert.equal(bad.dec.push(hex('53 54 46 02 00 00 00 00'))?.code, 'bad-magic');
  assert.equal(bad.dec.push(CSTP_DPD_REQ)?.code, 'bad-magic');
  assert.equal(bad.frames.length, 0);
  assert.equal(collect().dec.push(hex('53 54 46 01 00 00 03 01'))?.code, 'bad-reserved');
  assert.equal(collect(1500).dec.push(hex('53 54 46 01 05 dd 00 00'))?.code, 'too-large');
  // the header split across chunks is checked too
  const split = collect();
  assert.equal(split.dec.push(hex('53 54')), null);
  assert.equal(split.dec.push(hex('47 01 00 00 00 00'))?.code, 'bad-magic');
});

test('decoder: random garbage never throws', () => {
  const rng = seeded('cstp decoder garbage'); // logged seed: a failure replays
  for (let i = 0; i < 200; i++) {
    const c = collect(2048);
    const junk = rng.bytes(1 + rng.int(3000));
    if (i % 2 && junk.length >= 4) junk.set(hex("53 54 46 01"), 0);
    assert.doesNotThrow(() => c.dec.push(junk));
  }
});
