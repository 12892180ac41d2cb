/**
 * Bounds-checked byte reader with a sticky error flag.
 *
 * WHY sticky instead of throwing: handshake parsing must never throw out of
 * the endpoint (untrusted input), and checking one `ok` flag at the end keeps
 * the message decoders short. Any out-of-range read sets `ok = false` and
 * returns a zero/empty value, so later reads cannot index past the end either.
 */
export class Reader {
  ok = true;
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
    if (start < 0 || end > buf.length || start > end) {
      this.ok = false;
      this.pos = end;
    }
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private take(n: number): number {
    if (!this.ok || n < 0 || this.end - this.pos < n) {
      this.ok = false;
      return -1;
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(): number {
    const at = this.take(1);
    return at < 0 ? 0 : this.buf[at]!;
  }

  u16(): number {
    const at = this.take(2);
    return at < 0 ? 0 : this.buf.readUInt16BE(at);
  }

  u24(): number {
    const at = this.take(3);
    return at < 0 ? 0 : this.buf.readUIntBE(at, 3);
  }

  /** A view (not a copy) of the next n bytes. */
  bytes(n: number): Buffer {
    const at = this.take(n);
    return at < 0 ? EMPTY : this.buf.subarray(at, at + n);
  }

  /** opaque<0..2^8-1> */
  vec8(max = 255): Buffer {
    const n = this.u8();
    if (n > max) this.ok = false;
    return this.bytes(n);
  }

  /** opaque<0..2^16-1> */
  vec16(max = 65535): Buffer {
    const n = this.u16();
    if (n > max) this.ok = false;
    return this.bytes(n);
  }

  skip(n: number): void {
    this.take(n);
  }
}

export const EMPTY: Buffer = Buffer.alloc(0);

export function u8(v: number): Buffer {
  return Buffer.from([v & 0xff]);
}

export function u16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(v & 0xffff, 0);
  return b;
}

export function u24(v: number): Buffer {
  const b = Buffer.allocUnsafe(3);
  b.writeUIntBE(v & 0xffffff, 0, 3);
  return b;
}

export function vec8(data: Buffer): Buffer {
  return Buffer.concat([u8(data.length), data]);
}

export function vec16(data: Buffer): Buffer {
  return Buffer.concat([u16(data.length), data]);
}

export function isAllZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
