/**
 * Reads a TLS 1.2 server flight (plaintext records before the server's ChangeCipherSpec) and
 * extracts the CertificateRequest's `certificate_authorities`: the DNs of the CAs whose client
 * certificates the gateway accepts ([SEED] §1 "클라이언트 인증서 요청", PROTOCOL.md §3.2).
 * Node's TLS client does not expose that list, so the client replays a handshake and reads the
 * bytes itself (cert-request-probe.ts) when it has to explain a missing certificate.
 *
 * Pure: bytes in, strings out. RFC 5246 §7.4.4 layout:
 *   certificate_types<1..2^8-1>, supported_signature_algorithms<2..2^16-2>,
 *   certificate_authorities<0..2^16-1> of DistinguishedName<1..2^16-1> (DER).
 */

const RECORD_HANDSHAKE = 22;
const RECORD_CCS = 20;
const HS_CERTIFICATE_REQUEST = 13;

export interface CertRequestInfo {
  /** true when a CertificateRequest was seen */
  requested: boolean;
  /** RFC 4514-style DNs (most specific last, as OpenSSL prints them: CN=...,O=...) */
  authorities: string[];
}

/** Handshake bytes of the plaintext records at the start of a server stream. */
function handshakeBytes(stream: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let pos = 0;
  while (pos + 5 <= stream.length) {
    const type = stream[pos]!;
    const len = (stream[pos + 3]! << 8) | stream[pos + 4]!;
    if (type === RECORD_CCS || pos + 5 + len > stream.length) break;
    if (type === RECORD_HANDSHAKE) parts.push(stream.subarray(pos + 5, pos + 5 + len));
    pos += 5 + len;
  }
  return Buffer.concat(parts);
}

export function parseCertificateRequest(serverStream: Uint8Array): CertRequestInfo {
  const hs = handshakeBytes(serverStream);
  let pos = 0;
  while (pos + 4 <= hs.length) {
    const type = hs[pos]!;
    const len = (hs[pos + 1]! << 16) | (hs[pos + 2]! << 8) | hs[pos + 3]!;
    const body = hs.subarray(pos + 4, pos + 4 + len);
    pos += 4 + len;
    if (type !== HS_CERTIFICATE_REQUEST || body.length < len) continue;
    const authorities: string[] = [];
    let p = 0;
    p += 1 + (body[p] ?? 0); // certificate_types
    if (p + 2 > body.length) return { requested: true, authorities };
    p += 2 + ((body[p]! << 8) | body[p + 1]!); // supported_signature_algorithms (TLS 1.2)
    if (p + 2 > body.length) return { requested: true, authorities };
    const end = Math.min(body.length, p + 2 + ((body[p]! << 8) | body[p + 1]!));
    p += 2;
    while (p + 2 <= end) {
      const n = (body[p]! << 8) | body[p + 1]!;
      const der = body.subarray(p + 2, p + 2 + n);
      p += 2 + n;
      const dn = formatDn(der);
      if (dn) authorities.push(dn);
    }
    return { requested: true, authorities };
  }
  return { requested: false, authorities: [] };
}

// ---------------------------------------------------------------- minimal DER for Names

interface Tlv {
  tag: number;
  value: Uint8Array;
  next: number;
}

function readTlv(b: Uint8Array, pos: number): Tlv | null {
  if (pos + 2 > b.length) return null;
  const tag = b[pos]!;
  let len = b[pos + 1]!;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || p + n > b.length) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | b[p + i]!;
    p += n;
  }
  if (p + len > b.length) return null;
  return { tag, value: b.subarray(p, p + len), next: p + len };
}

function oidText(v: Uint8Array): string {
  if (v.length === 0) return '';
  const parts = [Math.floor(v[0]! / 40), v[0]! % 40];
  let acc = 0;
  for (let i = 1; i < v.length; i++) {
    acc = acc * 128 + (v[i]! & 0x7f);
    if (!(v[i]! & 0x80)) {
      parts.push(acc);
      acc = 0;
    }
  }
  return parts.join('.');
}

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** DER Name -> "CN=x, O=y" in the certificate's order; '' when unparsable. */
export function formatDn(der: Uint8Array): string {
  const seq = readTlv(der, 0);
  if (!seq || seq.tag !== 0x30) return '';
  const out: string[] = [];
  let p = 0;
  while (p < seq.value.length) {
    const set = readTlv(seq.value, p);
    if (!set || set.tag !== 0x31) return '';
    p = set.next;
    let q = 0;
    while (q < set.value.length) {
      const atv = readTlv(set.value, q);
      if (!atv || atv.tag !== 0x30) return '';
      q = atv.next;
      const oid = readTlv(atv.value, 0);
      const val = oid && readTlv(atv.value, oid.next);
      if (!oid || !val || oid.tag !== 0x06) return '';
      const key = SHORT_NAMES[oidText(oid.value)] ?? oidText(oid.value);
      // BMPString is UTF-16BE; every other string type we meet here is ASCII/UTF-8.
      const text = val.tag === 0x1e ? Buffer.from(val.value).swap16().toString('utf16le') : Buffer.from(val.value).toString('utf8');
      out.push(`${key}=${text}`);
    }
  }
  return out.join(', ');
}
