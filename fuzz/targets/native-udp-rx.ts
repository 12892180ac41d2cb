/**
 * The batched UDP receive path's pure C parts (native/udp_rx_layout.h through native/udp_rx.c's
 * test exports): the UDP_GRO control-message parser over any bytes (it must answer -1, 0 or a
 * positive size, never read past the buffer), and the layout of a recvmmsg batch from any
 * message lengths, GRO segment sizes and flags (every datagram inside its own message's part
 * of its slot, none empty unless its message is, never more than the output holds).
 * Coverage guidance sees only the JS wrapper (the C code is not instrumented): the value is in
 * the invariants, and in a crash of the C code on garbage taking the process down.
 */
import { udpRxAddon } from '../../src/os/udp-rx-batch.js';
import { check, type FuzzTarget } from './target.js';

const MAX_MSGS = 64;

export const nativeUdpRx: FuzzTarget = {
  name: 'native-udp-rx',
  description: 'batched UDP receive (C addon): GRO cmsg parser and recvmmsg batch layout, any bytes',
  maxLen: 1024,
  covers: ['/dist/src/os/udp-rx-batch'],
  dictionary: ['\x14\x00\x00\x00\x00\x00\x00\x00\x11\x00\x00\x00\x68\x00\x00\x00', '\x78\x05\x00\x00', '\xff\xff\xff\xff'],
  run(data) {
    const a = udpRxAddon();
    check(a !== null, 'the native addon is not built (npm ci builds it): this target would test nothing');
    // 1. the input as control data
    const seg = a.groSegment(Buffer.from(data), data.length > 0 ? data[0]! & 1 : 0);
    check(Number.isInteger(seg) && seg >= -1, `groSegment returned ${seg}`);
    // 2. the input as a batch: 6 bytes per message (len u16, seg i16 in [-1, 65535), flags)
    const slot = 1 + ((data[0] ?? 0) << 8 | (data[1] ?? 0));
    const n = Math.min(MAX_MSGS, Math.floor(Math.max(0, data.length - 3) / 6));
    const room = 1 + ((data[2] ?? 0) * 17) % (MAX_MSGS * 64);
    const lens = new Uint32Array(n);
    const segs = new Int32Array(n);
    const flags = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const o = 3 + i * 6;
      lens[i] = data.readUInt16BE(o);
      segs[i] = data.readInt16BE(o + 2) < -1 ? -1 : data.readInt16BE(o + 2);
      flags[i] = data[o + 4]! & 3;
    }
    const offs = new Uint32Array(room);
    const outLens = new Uint32Array(room);
    const [count, dropped] = a.rxLayout(lens, segs, flags, n, slot, offs, outLens, room);
    check(count <= room, `count ${count} > room ${room}`);
    check(dropped <= n, `dropped ${dropped} of ${n}`);
    for (let i = 0; i < count; i++) {
      const m = Math.floor(offs[i]! / slot);
      check(m < n, `datagram ${i} in message ${m} of ${n}`);
      check(offs[i]! + outLens[i]! <= m * slot + lens[m]!, `datagram ${i} past its message`);
      check(lens[m]! <= slot && (flags[m]! & 1) === 0 && segs[m]! >= 0, `datagram ${i} from a message that should have been dropped`);
      check(outLens[i]! > 0 || lens[m] === 0, `empty datagram ${i} from a message of ${lens[m]} bytes`);
    }
  },
};
