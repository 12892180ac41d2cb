/**
 * Which DTLS mode the gateway answers in CONNECT (PROTOCOL.md §6.2, §10.2), and the X-DTLS-*
 * response headers for it. Pure: the caller supplies the random id, the PSK and the ports.
 *
 * Preference: PSK-NEGOTIATE when offered (keys from the TLS exporter: nothing secret travels in
 * headers); else Cisco DTLS 1.2 (X-DTLS12-CipherSuite); else OC-DTLS1_2-*; else DTLS 0.9. Within
 * a header our preference order wins, never an ECDSA name (openconnect aborts DTLS on it, quirk 11).
 * Never 3DES (DES-CBC3-SHA, a 64-bit block cipher: Sweet32) unless the config opts in with
 * `dtls: { allow-3des: true }`; a client that offers nothing else then stays on TLS.
 */
import { DTLS0_9, lookupDtlsCipherName, type DtlsCipherHeader, type DtlsVersion } from '../dtls/index.js';
import type { ConnectRequest } from '../protocol/connect-headers.js';
import { dtlsDataMtu, type CipherOverhead } from '../protocol/mtu.js';

export type DtlsOffer =
  | { mode: 'psk'; name: 'PSK-NEGOTIATE'; header: 'X-DTLS-CipherSuite' }
  | { mode: 'resume'; name: string; header: DtlsCipherHeader; version: DtlsVersion; suite: number; masterSecret: Buffer };

const DTLS12_PREFERENCE = ['ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-GCM-SHA256'];
const OC_PREFERENCE = ['OC-DTLS1_2-AES256-GCM', 'OC-DTLS1_2-AES128-GCM'];
const LEGACY_PREFERENCE = ['AES256-SHA', 'AES128-SHA'];
const LEGACY_3DES = 'DES-CBC3-SHA';

export interface DtlsOfferPolicy {
  /** answer DES-CBC3-SHA too (last resort); default false */
  allow3des?: boolean;
}

function pick(header: DtlsCipherHeader, offered: string[], preference: string[]): { name: string; version: DtlsVersion; suite: number } | null {
  for (const name of preference) {
    if (!offered.includes(name)) continue;
    const s = lookupDtlsCipherName(header, name);
    if (s && s.mode === 'resume') return { name, version: s.version, suite: s.suite };
  }
  return null;
}

/** The mode to answer, or null when the client offered nothing we run (then: TLS only). */
export function chooseDtlsOffer(req: ConnectRequest, policy: DtlsOfferPolicy = {}): DtlsOffer | null {
  if (req.dtlsCipherSuites.includes('PSK-NEGOTIATE')) return { mode: 'psk', name: 'PSK-NEGOTIATE', header: 'X-DTLS-CipherSuite' };
  // The resume modes need the client's master secret: 48 bytes as 96 hex digits.
  const ms = req.dtlsMasterSecret?.trim() ?? '';
  if (!/^[0-9a-fA-F]{96}$/.test(ms)) return null;
  const masterSecret = Buffer.from(ms, 'hex');
  const d12 = pick('X-DTLS12-CipherSuite', req.dtls12CipherSuites, DTLS12_PREFERENCE);
  if (d12) return { mode: 'resume', header: 'X-DTLS12-CipherSuite', masterSecret, ...d12 };
  const oc = pick('X-DTLS-CipherSuite', req.dtlsCipherSuites, OC_PREFERENCE);
  if (oc) return { mode: 'resume', header: 'X-DTLS-CipherSuite', masterSecret, ...oc };
  const legacy = pick('X-DTLS-CipherSuite', req.dtlsCipherSuites, policy.allow3des ? [...LEGACY_PREFERENCE, LEGACY_3DES] : LEGACY_PREFERENCE);
  if (legacy) return { mode: 'resume', header: 'X-DTLS-CipherSuite', masterSecret, ...legacy };
  return null;
}

/** Per-record overhead of a resume suite, for X-DTLS-MTU. */
export function offerOverhead(o: DtlsOffer): CipherOverhead {
  if (o.mode === 'psk' || o.name.includes('GCM')) return { kind: 'aead-explicit-nonce' };
  return { kind: 'cbc-hmac', block: o.name.includes('DES-CBC3') ? 8 : 16, mac: 20 };
}

export interface DtlsHeaderParams {
  offer: DtlsOffer;
  /** App-ID (PSK) or Session-ID (resume): 32 random bytes */
  id: Buffer;
  port: number;
  dpd: number;
  keepalive: number;
  linkMtu: number;
}

/** The X-DTLS-* headers in the order ocserv sends them (§4.4). */
export function dtlsResponseHeaders(p: DtlsHeaderParams): Array<[string, string]> {
  const h: Array<[string, string]> = [
    ['X-DTLS-DPD', String(p.dpd)],
    ['X-DTLS-Port', String(p.port)],
    ['X-DTLS-Keepalive', String(p.keepalive)],
  ];
  const hex = p.id.toString('hex');
  if (p.offer.mode === 'psk') {
    // No X-DTLS-MTU in PSK mode: openconnect computes it from X-CSTP-Base-MTU (§6.9).
    h.push(['X-DTLS-App-ID', hex], ['X-DTLS-CipherSuite', 'PSK-NEGOTIATE']);
    return h;
  }
  // X-DTLS-Session-ID must be exactly 64 hex digits or openconnect fails the CONNECT (quirk 17).
  h.push(['X-DTLS-Session-ID', hex], [p.offer.header, p.offer.name]);
  h.push(['X-DTLS-MTU', String(dtlsDataMtu(p.linkMtu, offerOverhead(p.offer)))]);
  return h;
}

/** Short label for logs and the control API: "PSK-NEGOTIATE", "DTLS0.9 AES128-SHA", ... */
export function offerLabel(o: DtlsOffer): string {
  if (o.mode === 'psk') return 'PSK-NEGOTIATE';
  return `${o.version === DTLS0_9 ? 'DTLS0.9' : 'DTLS1.2'} ${o.name}`;
}
