/**
 * Record protection for one direction and one epoch: seal (encrypt) and open
 * (decrypt + authenticate) a record fragment.
 *
 * Common inputs: the 8-byte DTLS sequence number seq64 = epoch(2) ‖ seq(6),
 * content type, wire version (01 00 or FE FD; the version is what makes DTLS
 * 0.9 records differ from DTLS 1.2 ones), and the plaintext length.
 *
 * - CBC + HMAC (RFC 5246 §6.2.3.2, RFC 4346 explicit IV; PROTOCOL.md §6.4):
 *   MAC = HMAC(mac_key, seq64 ‖ type ‖ version ‖ len ‖ plaintext);
 *   fragment = IV ‖ CBC(key, IV, plaintext ‖ MAC ‖ padding), padding = p+1 bytes of value p.
 * - AES-GCM (RFC 5288, RFC 6347 §4.1.2.1): nonce = salt(4) ‖ explicit(8), the
 *   explicit part is seq64 (what GnuTLS and OpenSSL send); AAD = seq64 ‖ type ‖
 *   version ‖ len; fragment = explicit ‖ ciphertext ‖ tag(16).
 * - ChaCha20-Poly1305 (RFC 7905 §2): nonce = iv(12) XOR (0^4 ‖ seq64), same AAD,
 *   fragment = ciphertext ‖ tag(16), no explicit nonce.
 *
 * Per-packet cost is dominated by creating the node:crypto cipher object
 * (NODE-DATAPLANE.md §3); keys are imported once as KeyObjects and the small
 * header/nonce buffers are per-instance scratch space (all calls are synchronous).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  randomFillSync,
  timingSafeEqual,
  type CipherGCMTypes,
  type KeyObject,
} from 'node:crypto';
import type { DirectionKeys } from './keys.js';
import type { CipherSuite } from './suites.js';

const TAG_LENGTH = 16;

export interface RecordProtection {
  /** Bytes between the record header and the ciphertext (explicit IV / nonce). */
  readonly explicitNonceLength: number;
  /** Worst-case bytes added after the plaintext (tag, or MAC + padding). */
  readonly maxTrailerLength: number;
  /** Exact fragment length produced by `seal` for a plaintext of this length. */
  fragmentLength(plaintextLength: number): number;
  /**
   * Write the protected fragment at dst[dstOffset..] and return its length.
   * `plaintext` must either not overlap dst, or start exactly at
   * dstOffset + explicitNonceLength (in-place sealing with headroom).
   */
  seal(
    type: number,
    version: number,
    epoch: number,
    seq: number,
    plaintext: Uint8Array,
    dst: Buffer,
    dstOffset: number,
  ): number;
  /** Authenticated plaintext, or null (bad MAC/tag/padding/length: one reason on purpose). */
  open(type: number, version: number, epoch: number, seq: number, fragment: Buffer): Buffer | null;
}

function writeSeq64(buf: Buffer, off: number, epoch: number, seq: number): void {
  buf.writeUInt16BE(epoch, off);
  buf.writeUIntBE(seq, off + 2, 6);
}

/** seq64 ‖ type ‖ version ‖ length: the MAC pseudo-header and the AEAD additional data. */
function writePseudoHeader(
  buf: Buffer,
  epoch: number,
  seq: number,
  type: number,
  version: number,
  length: number,
): void {
  writeSeq64(buf, 0, epoch, seq);
  buf[8] = type;
  buf.writeUInt16BE(version, 9);
  buf.writeUInt16BE(length, 11);
}

/** Fills a CBC explicit IV; default crypto.randomFillSync (tests inject fixed IVs for the vectors). */
export type IvFiller = (iv: Buffer) => void;

const defaultFill: IvFiller = (iv) => {
  randomFillSync(iv);
};

class CbcHmacProtection implements RecordProtection {
  readonly explicitNonceLength: number;
  readonly maxTrailerLength: number;
  private readonly key: KeyObject;
  private readonly macKey: KeyObject;
  private readonly macHash: string;
  private readonly macLength: number;
  private readonly block: number;
  private readonly cipher: string;
  private readonly pseudo = Buffer.alloc(13);

  constructor(
    suite: CipherSuite,
    keys: DirectionKeys,
    private readonly fillIv: IvFiller,
  ) {
    this.block = suite.blockSize;
    this.cipher = suite.cipher;
    this.macHash = suite.macHash ?? 'sha1';
    this.macLength = suite.macLength;
    this.key = createSecretKey(keys.encKey);
    this.macKey = createSecretKey(keys.macKey);
    this.explicitNonceLength = this.block;
    this.maxTrailerLength = this.macLength + this.block;
  }

  fragmentLength(plaintextLength: number): number {
    const body = plaintextLength + this.macLength + 1;
    return this.block + Math.ceil(body / this.block) * this.block;
  }

  private mac(type: number, version: number, epoch: number, seq: number, data: Uint8Array): Buffer {
    writePseudoHeader(this.pseudo, epoch, seq, type, version, data.length);
    return createHmac(this.macHash, this.macKey).update(this.pseudo).update(data).digest();
  }

  seal(
    type: number,
    version: number,
    epoch: number,
    seq: number,
    plaintext: Uint8Array,
    dst: Buffer,
    dstOffset: number,
  ): number {
    const mac = this.mac(type, version, epoch, seq, plaintext);
    const total = plaintext.length + this.macLength + 1;
    const padLen = (this.block - (total % this.block)) % this.block; // p: value of each padding byte
    const trailer = Buffer.allocUnsafe(this.macLength + padLen + 1);
    mac.copy(trailer, 0);
    trailer.fill(padLen, this.macLength);
    const iv = dst.subarray(dstOffset, dstOffset + this.block);
    this.fillIv(iv);
    const c = createCipheriv(this.cipher, this.key, iv);
    c.setAutoPadding(false);
    // Encrypt everything before writing any ciphertext: plaintext may sit right after the IV.
    const a = c.update(plaintext);
    const b = c.update(trailer);
    const f = c.final();
    let off = dstOffset + this.block;
    off += a.copy(dst, off);
    off += b.copy(dst, off);
    off += f.copy(dst, off);
    return off - dstOffset;
  }

  open(type: number, version: number, epoch: number, seq: number, fragment: Buffer): Buffer | null {
    const bs = this.block;
    const ctLen = fragment.length - bs;
    const minCt = Math.ceil((this.macLength + 1) / bs) * bs;
    if (ctLen < minCt || ctLen % bs !== 0) return null;
    let padded: Buffer;
    try {
      const d = createDecipheriv(this.cipher, this.key, fragment.subarray(0, bs));
      d.setAutoPadding(false);
      const p1 = d.update(fragment.subarray(bs));
      const p2 = d.final();
      padded = p2.length === 0 ? p1 : Buffer.concat([p1, p2]);
    } catch {
      return null;
    }
    const n = padded.length;
    const p = padded[n - 1]!;
    // Padding check without an early exit (constant-time-ish, RFC 5246 §6.2.3.2 note
    // on timing attacks): look at up to 256 trailing bytes whatever p is.
    let bad = p + 1 + this.macLength > n ? 1 : 0;
    const scan = Math.min(256, n);
    for (let i = 1; i <= scan; i++) {
      const inPad = i <= p + 1 ? 1 : 0;
      bad |= inPad & (padded[n - i]! !== p ? 1 : 0);
    }
    const ptLen = bad ? n - this.macLength - 1 : n - p - 1 - this.macLength;
    if (ptLen < 0) return null;
    const plaintext = padded.subarray(0, ptLen);
    const expected = this.mac(type, version, epoch, seq, plaintext);
    const got = padded.subarray(ptLen, ptLen + this.macLength);
    const macOk = timingSafeEqual(expected, got);
    return macOk && !bad ? plaintext : null;
  }
}

class GcmProtection implements RecordProtection {
  readonly explicitNonceLength = 8;
  readonly maxTrailerLength = TAG_LENGTH;
  private readonly key: KeyObject;
  private readonly cipher: CipherGCMTypes;
  private readonly nonce = Buffer.alloc(12);
  private readonly aad = Buffer.alloc(13);

  constructor(suite: CipherSuite, keys: DirectionKeys) {
    this.cipher = suite.keyLength === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
    this.key = createSecretKey(keys.encKey);
    keys.fixedIv.copy(this.nonce, 0, 0, 4);
  }

  fragmentLength(plaintextLength: number): number {
    return 8 + plaintextLength + TAG_LENGTH;
  }

  seal(
    type: number,
    version: number,
    epoch: number,
    seq: number,
    plaintext: Uint8Array,
    dst: Buffer,
    dstOffset: number,
  ): number {
    writeSeq64(this.nonce, 4, epoch, seq);
    writePseudoHeader(this.aad, epoch, seq, type, version, plaintext.length);
    const c = createCipheriv(this.cipher, this.key, this.nonce, { authTagLength: TAG_LENGTH });
    c.setAAD(this.aad);
    const ct = c.update(plaintext);
    const f = c.final();
    const tag = c.getAuthTag();
    this.nonce.copy(dst, dstOffset, 4, 12); // explicit nonce = seq64
    let off = dstOffset + 8;
    off += ct.copy(dst, off);
    off += f.copy(dst, off);
    off += tag.copy(dst, off);
    return off - dstOffset;
  }

  open(type: number, version: number, epoch: number, seq: number, fragment: Buffer): Buffer | null {
    const ptLen = fragment.length - 8 - TAG_LENGTH;
    if (ptLen < 0) return null;
    fragment.copy(this.nonce, 4, 0, 8);
    writePseudoHeader(this.aad, epoch, seq, type, version, ptLen);
    try {
      const d = createDecipheriv(this.cipher, this.key, this.nonce, { authTagLength: TAG_LENGTH });
      d.setAAD(this.aad);
      d.setAuthTag(fragment.subarray(8 + ptLen));
      const pt = d.update(fragment.subarray(8, 8 + ptLen));
      const f = d.final(); // throws on a bad tag
      return f.length === 0 ? pt : Buffer.concat([pt, f]);
    } catch {
      return null;
    }
  }
}

class ChachaProtection implements RecordProtection {
  readonly explicitNonceLength = 0;
  readonly maxTrailerLength = TAG_LENGTH;
  private readonly key: KeyObject;
  private readonly iv: Buffer;
  private readonly nonce = Buffer.alloc(12);
  private readonly aad = Buffer.alloc(13);

  constructor(keys: DirectionKeys) {
    this.key = createSecretKey(keys.encKey);
    this.iv = Buffer.from(keys.fixedIv);
  }

  fragmentLength(plaintextLength: number): number {
    return plaintextLength + TAG_LENGTH;
  }

  private setNonce(epoch: number, seq: number): void {
    this.iv.copy(this.nonce);
    // XOR the 64-bit sequence number (epoch ‖ seq) into the last 8 bytes.
    this.nonce[4]! ^= (epoch >>> 8) & 0xff;
    this.nonce[5]! ^= epoch & 0xff;
    for (let i = 0; i < 6; i++) {
      this.nonce[11 - i]! ^= Math.floor(seq / 2 ** (8 * i)) & 0xff;
    }
  }

  seal(
    type: number,
    version: number,
    epoch: number,
    seq: number,
    plaintext: Uint8Array,
    dst: Buffer,
    dstOffset: number,
  ): number {
    this.setNonce(epoch, seq);
    writePseudoHeader(this.aad, epoch, seq, type, version, plaintext.length);
    const c = createCipheriv('chacha20-poly1305', this.key, this.nonce, { authTagLength: TAG_LENGTH });
    c.setAAD(this.aad, { plaintextLength: plaintext.length });
    const ct = c.update(plaintext);
    const f = c.final();
    const tag = c.getAuthTag();
    let off = dstOffset;
    off += ct.copy(dst, off);
    off += f.copy(dst, off);
    off += tag.copy(dst, off);
    return off - dstOffset;
  }

  open(type: number, version: number, epoch: number, seq: number, fragment: Buffer): Buffer | null {
    const ptLen = fragment.length - TAG_LENGTH;
    if (ptLen < 0) return null;
    this.setNonce(epoch, seq);
    writePseudoHeader(this.aad, epoch, seq, type, version, ptLen);
    try {
      const d = createDecipheriv('chacha20-poly1305', this.key, this.nonce, { authTagLength: TAG_LENGTH });
      d.setAAD(this.aad, { plaintextLength: ptLen });
      d.setAuthTag(fragment.subarray(ptLen));
      const pt = d.update(fragment.subarray(0, ptLen));
      const f = d.final();
      return f.length === 0 ? pt : Buffer.concat([pt, f]);
    } catch {
      return null;
    }
  }
}

/** Build the record protection of one direction. */
export function createRecordProtection(
  suite: CipherSuite,
  keys: DirectionKeys,
  fillIv: IvFiller = defaultFill,
): RecordProtection {
  switch (suite.kind) {
    case 'cbc':
      return new CbcHmacProtection(suite, keys, fillIv);
    case 'gcm':
      return new GcmProtection(suite, keys);
    case 'chacha20-poly1305':
      return new ChachaProtection(keys);
  }
}
