/**
 * CSTP framing (PROTOCOL.md §5): the packet stream inside the TLS connection after CONNECT.
 *
 *   0..3  'S' 'T' 'F' 0x01
 *   4..5  payload length, big-endian
 *   6     packet type (§5.2)
 *   7     0x00
 *   8..   payload
 *
 * Pure code: no I/O. The decoder is an incremental state machine over a byte stream (the model is
 * the `ws` receiver): it never throws on peer input, it reports a typed error and stops.
 */

export const CSTP_HEADER_LEN = 8;

export const enum CstpType {
  Data = 0x00,
  DpdReq = 0x03,
  DpdResp = 0x04,
  Disconnect = 0x05,
  Keepalive = 0x07,
  Compressed = 0x08,
  Terminate = 0x09,
}

/** DISCONNECT reason bytes (§5.4). */
export const enum DisconnectReason {
  /** user disconnect: session invalidated (openconnect sends it on Ctrl-C) */
  User = 0xb0,
  /** local error: session invalidated */
  LocalError = 0x70,
  /** client reconnects now: session kept (AnyConnect) */
  Reconnect = 0x91,
  /** VPN pause: session kept */
  Pause = 0xd1,
}

/** Largest payload the 16-bit length can carry; one frame must also fit one TLS record (16384). */
export const CSTP_MAX_PAYLOAD = 16384 - CSTP_HEADER_LEN;

/** Writes the 8-byte header at buf[off..off+8) for a payload of `len` bytes. */
export function writeCstpHeader(buf: Uint8Array, off: number, type: number, len: number): void {
  buf[off] = 0x53;
  buf[off + 1] = 0x54;
  buf[off + 2] = 0x46;
  buf[off + 3] = 0x01;
  buf[off + 4] = len >>> 8;
  buf[off + 5] = len & 0xff;
  buf[off + 6] = type;
  buf[off + 7] = 0;
}

/** A whole frame in a new buffer. For control frames; the data path writes headers in place. */
export function encodeCstp(type: number, payload?: Uint8Array): Buffer {
  const len = payload ? payload.length : 0;
  if (len > 0xffff) throw new RangeError(`CSTP payload of ${len} bytes does not fit the 16-bit length`);
  const out = Buffer.allocUnsafe(CSTP_HEADER_LEN + len);
  writeCstpHeader(out, 0, type, len);
  if (payload) out.set(payload, CSTP_HEADER_LEN);
  return out;
}

/** DISCONNECT frame: reason byte + optional ASCII text (§5.4, §5.5). */
export function encodeDisconnect(reason: number, text = ''): Buffer {
  const body = Buffer.alloc(1 + Buffer.byteLength(text, 'latin1'));
  body[0] = reason;
  body.write(text, 1, 'latin1');
  return encodeCstp(CstpType.Disconnect, body);
}

export const CSTP_DPD_REQ: Buffer = encodeCstp(CstpType.DpdReq);
export const CSTP_DPD_RESP: Buffer = encodeCstp(CstpType.DpdResp);
export const CSTP_KEEPALIVE: Buffer = encodeCstp(CstpType.Keepalive);
export const CSTP_TERMINATE: Buffer = encodeCstp(CstpType.Terminate);

export type CstpErrorCode = 'bad-magic' | 'bad-reserved' | 'too-large';

export class CstpError extends Error {
  constructor(readonly code: CstpErrorCode, message: string) {
    super(message);
    this.name = 'CstpError';
  }
}

/**
 * Receives frames. `onFrame(type, buf, start, end)`: the payload is buf[start..end), a view that is
 * valid only during the call (the decoder may reuse its buffer afterwards).
 */
export type CstpFrameHandler = (type: number, buf: Buffer, start: number, end: number) => void;

/**
 * Incremental decoder. Feed it TLS plaintext chunks in order; it calls the handler once per frame,
 * whatever the chunk boundaries. After an error it ignores further input (the connection is to be
 * closed: a bad header means we lost framing and nothing after it can be trusted).
 */
export class CstpDecoder {
  /**
   * A frame split across chunks is assembled here. Allocated on first need, not per decoder: a
   * gateway holds one decoder per session (10,000 of them), and most frames arrive whole.
   */
  private pendingBuf: Buffer | null = null;
  private pendingLen = 0;
  private failed: CstpError | null = null;

  /**
   * @param maxPayload largest payload accepted (MTU plus slack: peers may exceed the advertised
   *   MTU a little, §6.9); larger is a `too-large` error, never a big allocation.
   */
  constructor(
    private readonly onFrame: CstpFrameHandler,
    private readonly maxPayload: number = CSTP_MAX_PAYLOAD,
  ) {
  }

  get error(): CstpError | null {
    return this.failed;
  }

  /**
   * Decodes chunk[0, end) (default: all of it); frames are handed out as views into `chunk`, so a
   * caller that reuses `chunk` must be done with them when onFrame returns (partial frames are
   * copied here). Returns null, or the error that stopped the decoder (also kept in `error`).
   */
  push(chunk: Buffer, end: number = chunk.length): CstpError | null {
    if (this.failed) return this.failed;
    let pos = 0;
    const n = Math.min(end, chunk.length);
    // Finish a frame carried over from an earlier chunk.
    if (this.pendingLen > 0) {
      pos = this.fillPending(chunk, 0, n);
      if (this.failed) return this.failed;
      if (this.pendingLen > 0) return null; // still incomplete, chunk consumed
    }
    // Whole frames straight out of the chunk: no copy.
    while (n - pos >= CSTP_HEADER_LEN) {
      const err = this.checkHeader(chunk, pos);
      if (err) return this.fail(err);
      const len = (chunk[pos + 4]! << 8) | chunk[pos + 5]!;
      if (n - pos < CSTP_HEADER_LEN + len) break;
      this.onFrame(chunk[pos + 6]!, chunk, pos + CSTP_HEADER_LEN, pos + CSTP_HEADER_LEN + len);
      pos += CSTP_HEADER_LEN + len;
    }
    if (pos < n) this.fillPending(chunk, pos, n);
    return this.failed;
  }

  private get pending(): Buffer {
    this.pendingBuf ??= Buffer.allocUnsafe(CSTP_HEADER_LEN + this.maxPayload);
    return this.pendingBuf;
  }

  /** Appends chunk[pos, end) to the pending frame; delivers it when complete. Returns the new pos. */
  private fillPending(chunk: Buffer, pos: number, end: number): number {
    const have = this.pendingLen;
    if (have < CSTP_HEADER_LEN) {
      const take = Math.min(CSTP_HEADER_LEN - have, end - pos);
      chunk.copy(this.pending, have, pos, pos + take);
      this.pendingLen += take;
      pos += take;
      if (this.pendingLen < CSTP_HEADER_LEN) return pos;
      const err = this.checkHeader(this.pending, 0);
      if (err) {
        this.fail(err);
        return end;
      }
    }
    const total = CSTP_HEADER_LEN + ((this.pending[4]! << 8) | this.pending[5]!);
    const take = Math.min(total - this.pendingLen, end - pos);
    chunk.copy(this.pending, this.pendingLen, pos, pos + take);
    this.pendingLen += take;
    pos += take;
    if (this.pendingLen === total) {
      this.pendingLen = 0;
      this.onFrame(this.pending[6]!, this.pending, CSTP_HEADER_LEN, total);
    }
    return pos;
  }

  private checkHeader(b: Buffer, p: number): CstpError | null {
    if (b[p] !== 0x53 || b[p + 1] !== 0x54 || b[p + 2] !== 0x46 || b[p + 3] !== 0x01) {
      return new CstpError('bad-magic', `bad CSTP header ${b.subarray(p, p + 4).toString('hex')} (expected 53544601)`);
    }
    if (b[p + 7] !== 0) return new CstpError('bad-reserved', `bad CSTP header: byte 7 is ${b[p + 7]} (expected 0)`);
    const len = (b[p + 4]! << 8) | b[p + 5]!;
    if (len > this.maxPayload) {
      return new CstpError('too-large', `CSTP frame of ${len} bytes exceeds the limit of ${this.maxPayload}`);
    }
    return null;
  }

  private fail(err: CstpError): CstpError {
    this.failed = err;
    this.pendingLen = 0;
    return err;
  }
}
