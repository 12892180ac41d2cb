/**
 * Reading a connected (TLS) socket into one buffer we own, instead of Node allocating a fresh
 * Buffer for every chunk it emits as 'data'. Measured on the gateway (perf, 200 MB TLS upload):
 * malloc/free of those chunks and V8's ArrayBuffer sweeping took about a tenth of the network
 * process's CPU.
 *
 * Node has this feature for sockets it creates itself (`net.connect` / `tls.connect` option
 * `onread: { buffer, callback }`), but not for a TLSSocket wrapped around an existing socket,
 * which is what a TLS server hands out. Its state is three per-socket slots keyed by private
 * symbols (lib/internal/stream_base_commons.js: kBuffer, kBufferGen, kBufferCb) plus the
 * handle's useUserBuffer(); onStreamRead then calls the callback with the byte count instead of
 * pushing a chunk. The symbols are found once on a probe socket made with `onread`, by their
 * descriptions. If any piece is missing (another Node), nothing changes: the caller keeps 'data'.
 * SSLGATE_TLS_USER_BUFFER=0 turns it off (tests prove the 'data' path with it).
 */
import { envFlagOn } from './env-flag.js';
import { Socket, type SocketConstructorOpts } from 'node:net';

interface Slots {
  buffer: symbol;
  gen: symbol;
  cb: symbol;
}

let slots: Slots | null | undefined;

function findSlots(): Slots | null {
  try {
    // `onread` is a Socket constructor option in Node (lib/net.js) that @types/node lists only
    // for net.connect(); the assertion says so.
    const withOnread = { onread: { buffer: Buffer.alloc(1), callback: () => true } };
    const probe = new Socket(withOnread as SocketConstructorOpts);
    const syms = Object.getOwnPropertySymbols(probe);
    probe.destroy();
    const by = (d: string): symbol | undefined => syms.find((s) => s.description === d);
    const buffer = by('kBuffer');
    const gen = by('kBufferGen');
    const cb = by('kBufferCb');
    return buffer && gen && cb ? { buffer, gen, cb } : null;
  } catch {
    return null;
  }
}

/** Called with the bytes that arrived: buf[0, n). Valid only during the call. false pauses reading. */
export type UserBufferReader = (n: number, buf: Buffer) => boolean | void;

interface HandleWithUserBuffer {
  useUserBuffer?: (buf: Uint8Array) => void;
}

/** Off with SSLGATE_TLS_USER_BUFFER=0 (or false/off/no). */
export function userBufferWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return envFlagOn('SSLGATE_TLS_USER_BUFFER', env);
}

/**
 * From now on, bytes arriving on `sock` go to `onBytes` in `buffer` (which several sockets may
 * share: each call is synchronous) and no longer as 'data' events. Bytes the stream had already
 * buffered are handed over first, through the same callback. False when this Node does not allow
 * it (or it is turned off): then nothing changed.
 */
export function readIntoUserBuffer(sock: Socket, buffer: Buffer, onBytes: UserBufferReader): boolean {
  if (!userBufferWanted()) return false;
  if (slots === undefined) slots = findSlots();
  const handle = (sock as unknown as { _handle?: HandleWithUserBuffer | null })._handle;
  if (!slots || !handle || typeof handle.useUserBuffer !== 'function') return false;
  // What Node read before the switch, still in the stream's buffer.
  for (let chunk = sock.read() as Buffer | null; chunk !== null; chunk = sock.read() as Buffer | null) {
    for (let off = 0; off < chunk.length; off += buffer.length) {
      const n = Math.min(buffer.length, chunk.length - off);
      chunk.copy(buffer, 0, off, off + n);
      onBytes(n, buffer);
    }
  }
  const s = sock as unknown as Record<symbol, unknown>;
  s[slots.buffer] = buffer;
  s[slots.gen] = null;
  s[slots.cb] = onBytes;
  handle.useUserBuffer(buffer);
  // Reading is started (again) by resume(), which with these slots set goes to the handle.
  sock.resume();
  return true;
}
