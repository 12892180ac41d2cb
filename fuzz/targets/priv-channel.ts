/**
 * The privileged process's side of its channel to the network process (src/gateway/priv/):
 * the network process parses the internet and may be compromised, so what it sends is fuzzed
 * like network input. The frame decoder never buffers more than one frame of at most the limit
 * and throws only FrameError; a decoded frame either validates into one of the message shapes,
 * with every string and list within its bounds, or is refused with ChannelProtocolError.
 */
import { encodeFrame, FrameDecoder, FrameError } from '../../src/gateway/priv/frames.js';
import { ChannelProtocolError, parseNetworkMessage, type NetworkMessage } from '../../src/gateway/priv/messages.js';
import { USER_NAME_MAX_BYTES } from '../../src/gateway/priv/limits.js';
import { formatCidr, parseIpv4Cidr } from '../../src/protocol/ipv4.js';
import { allowing, check, cuts, type FuzzTarget } from './target.js';

const LIMIT = 4096;

function bounded(m: NetworkMessage): void {
  switch (m.t) {
    case 'auth-start':
      check(Buffer.byteLength(m.req.user) <= USER_NAME_MAX_BYTES && Buffer.byteLength(m.req.password) <= 1024, 'auth strings over their bounds');
      check(Number.isSafeInteger(m.id) && m.id >= 0, 'auth id');
      break;
    case 'auth-answer':
      check(Object.keys(m.req.fields).length <= 8 && Object.values(m.req.fields).every((f) => Buffer.byteLength(f) <= 1024), 'answer fields over their bounds');
      break;
    case 'reload-subnets':
      check(m.cidrs.length <= 256 && m.cidrs.every((c) => { const p = parseIpv4Cidr(c); return p !== null && formatCidr(p) === c; }), 'subnets not canonical CIDRs');
      break;
    case 'fatal':
      check(m.error.length <= 2000, 'fatal error text over its bound');
      break;
    default:
  }
  // What validated once validates again to the same value (nothing is half-checked).
  const again = parseNetworkMessage(JSON.parse(JSON.stringify(m)) as unknown);
  check(JSON.stringify(again) === JSON.stringify(m), 'a valid message does not re-validate to itself');
}

export const privChannel: FuzzTarget = {
  name: 'priv-channel',
  description: 'privileged channel: frames and messages from the network process (any chunking)',
  maxLen: 8192,
  covers: ['/dist/src/gateway/priv/frames', '/dist/src/gateway/priv/messages'],
  dictionary: ['{"t":"auth-start","id":1,"req":{"group":"g","user":"a","password":"b","remote":"1.2.3.4"}}', '{"t":"auth-answer","id":3,"req":{"handle":"h","fields":{"password":"1"},"remote":"r"}}', '{"t":"acct","event":"stop","cause":"idle-timeout","record":{}}', '"cert":{"subject":{"CN":["a"]},"fingerprint":"AB","serial":"01"}', '{"t":"reload-subnets","id":2,"cidrs":["10.0.0.1/24"]}', '"t":"ready"', '"pid":', '"cidrs":[', '\x00\x00\x00'],
  seeds() {
    return [
      Buffer.concat([Buffer.from([0]), encodeFrame({ t: 'auth', id: 1, user: 'alice', password: 'pw' })]),
      Buffer.concat([Buffer.from([3]), encodeFrame({ t: 'reload-read', id: 2 }), encodeFrame({ t: 'reload-subnets', id: 3, cidrs: ['10.9.0.1/24'] }), encodeFrame({ t: 'reload-commit', id: 4 })]),
      Buffer.concat([Buffer.from([5]), encodeFrame({ t: 'ready', pid: 42 }), encodeFrame({ t: 'fatal', error: 'x', code: 'EADDRINUSE' })]),
    ];
  },
  run(data) {
    const dec = new FrameDecoder(LIMIT);
    for (const chunk of cuts(data.subarray(1), data[0] ?? 0)) {
      const frames = allowing([FrameError], () => dec.push(chunk));
      if (frames === undefined) return; // the channel is closed on a framing error
      check(dec.pending <= 4 + LIMIT, `decoder holds ${dec.pending} bytes`);
      for (const f of frames) {
        const m = allowing([ChannelProtocolError], () => parseNetworkMessage(f));
        if (m) bounded(m);
      }
    }
  },
};
