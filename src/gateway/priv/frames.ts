/**
 * The framing of the local channel between the gateway's privileged process and its network
 * process (see priv/README in parent.ts): each message is a 4-byte big-endian length and that
 * many bytes of UTF-8 JSON. Pure: bytes in, values out, with a size limit per direction, so a
 * compromised network process cannot make the privileged one buffer without bound.
 */

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/**
 * Incremental decoder. push() returns the complete messages so far (parsed JSON, not yet
 * validated); throws FrameError on an oversized frame or bad JSON, after which the channel must
 * be closed (there is no way to resynchronise a length-prefixed stream).
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private failed = false;

  constructor(private readonly maxFrame: number) {}

  push(chunk: Buffer): unknown[] {
    if (this.failed) throw new FrameError('channel already failed');
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: unknown[] = [];
    for (;;) {
      if (this.buf.length < 4) break;
      const len = this.buf.readUInt32BE(0);
      if (len > this.maxFrame) {
        this.failed = true;
        throw new FrameError(`frame of ${len} bytes exceeds the limit of ${this.maxFrame}`);
      }
      if (this.buf.length < 4 + len) break;
      const text = this.buf.toString('utf8', 4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      try {
        out.push(JSON.parse(text));
      } catch {
        this.failed = true;
        throw new FrameError('frame is not valid JSON');
      }
    }
    return out;
  }

  /** bytes held for an incomplete frame */
  get pending(): number {
    return this.buf.length;
  }
}
