/**
 * The DTLS data path's record protection, native when the `sslgate_dtls` addon
 * (native/dtls_record.c) is built, pure TypeScript (src/dtls/record-sealer.ts) otherwise. Same
 * API and same bytes on the wire either way (test/unit/dtls-native-*.test.ts checks both
 * against record-cipher.ts). This file is the addon edge: loading it, and choosing.
 *
 * Why: node:crypto builds a cipher object per record (~3.6-3.9 us for AES-GCM, more for
 * CBC+HMAC); a context that is keyed once and only re-IV'd per record costs ~0.5 us
 * (NODE-DATAPLANE.md §3). The handshake never comes here: after 'established' the channel takes
 * `endpoint.exportTrafficKeys()` and builds one sealer and one opener from it.
 *
 *   const keys = ep.exportTrafficKeys()!
 *   const sealer = createRecordSealer(keys)        // continues at keys.nextWriteSeq, owns the seq
 *   const opener = createRecordOpener(keys)        // has its own 64-record replay window
 *
 * The sealed datagrams go out through `dgram.send` or a batched sink (udp-batch.ts, which uses
 * the same addon's sendmmsg).
 *
 * Set SSLGATE_DTLS_NATIVE=0 to force the TypeScript implementation (A/B measurements, tests).
 */
import { loadAddon } from './native-addon.js';
import { TsRecordOpener, TsRecordSealer, type RecordOpener, type RecordSealer } from '../dtls/record-sealer.js';
import { getSuite, type CipherSuite } from '../dtls/suites.js';
import type { DtlsTrafficKeys } from '../dtls/types.js';

// ---------------------------------------------------------------- addon

/** The `sslgate_dtls` addon (native/dtls_record.c). */
export interface DtlsAddon {
  openssl: string;
  RecordSealer: new (
    kind: string, cipher: string, macHash: string, encKey: Buffer, fixedIv: Buffer, macKey: Buffer,
    version: number, epoch: number, firstSeq: number,
  ) => RecordSealer;
  RecordOpener: new (
    kind: string, cipher: string, macHash: string, encKey: Buffer, fixedIv: Buffer, macKey: Buffer,
    version: number, epoch: number,
  ) => RecordOpener;
  sendBatch(
    fd: number, slab: Buffer, offsets: Uint32Array, lens: Uint32Array, addrs: Uint32Array, ports: Uint32Array, count: number,
    flags: Uint32Array,
    /** optional: non-zero srcs[i] = datagram i's source address (IP_PKTINFO), host order */
    srcs?: Uint32Array,
  ): number;
}

let addon: DtlsAddon | null | undefined;
let addonError: string | null = null;

/** The addon, or null (not built, not Linux, or SSLGATE_DTLS_NATIVE=0): then TS is used. */
export function nativeDtlsAddon(): DtlsAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env['SSLGATE_DTLS_NATIVE'] === '0') {
    addonError = 'disabled by SSLGATE_DTLS_NATIVE=0';
    return addon;
  }
  try {
    addon = loadAddon<DtlsAddon>('sslgate_dtls');
  } catch (e) {
    addonError = (e as Error).message;
  }
  return addon;
}

/** 'native (OpenSSL x.y.z)' or 'typescript (<why>)', for logs. */
export function recordBackend(): string {
  const a = nativeDtlsAddon();
  return a ? `native (${a.openssl})` : `typescript (${addonError ?? 'no addon'})`;
}

// ---------------------------------------------------------------- factories

function suiteOf(keys: DtlsTrafficKeys): CipherSuite {
  const s = getSuite(keys.suiteId);
  if (!s) throw new Error(`unknown DTLS suite 0x${keys.suiteId.toString(16)}`);
  return s;
}

export interface RecordFactoryOptions {
  /** Use the TypeScript implementation even when the addon is there (tests, A/B). */
  typescript?: boolean;
}

/** Write protection for the association of `keys`, continuing at keys.nextWriteSeq. */
export function createRecordSealer(keys: DtlsTrafficKeys, opts: RecordFactoryOptions = {}): RecordSealer {
  const suite = suiteOf(keys);
  const a = opts.typescript ? null : nativeDtlsAddon();
  if (a) {
    const k = keys.write;
    return new a.RecordSealer(suite.kind, suite.cipher, suite.macHash ?? '', k.encKey, k.fixedIv, k.macKey,
      keys.version, keys.epoch, keys.nextWriteSeq);
  }
  return new TsRecordSealer(suite, keys);
}

/** Read protection for the association of `keys`, with its own replay window. */
export function createRecordOpener(keys: DtlsTrafficKeys, opts: RecordFactoryOptions = {}): RecordOpener {
  const suite = suiteOf(keys);
  const a = opts.typescript ? null : nativeDtlsAddon();
  if (a) {
    const k = keys.read;
    return new a.RecordOpener(suite.kind, suite.cipher, suite.macHash ?? '', k.encKey, k.fixedIv, k.macKey,
      keys.version, keys.epoch);
  }
  return new TsRecordOpener(suite, keys);
}
