/**
 * The client's DTLS offer in CONNECT and its reading of the gateway's answer (PROTOCOL.md §4.1,
 * §4.3, §6.2). Pure: the caller supplies the randomness and the headers.
 *
 * Offer, in openconnect's order and spelling (§4.1): X-DTLS-Master-Secret (48 fresh random bytes
 * per CONNECT, upper-case hex, sent even when PSK-NEGOTIATE is offered), X-DTLS-CipherSuite,
 * X-DTLS12-CipherSuite. No X-DTLS-Accept-Encoding: we implement no DTLS compression (§7.1).
 * Like openconnect (transcripts/ocserv-dtls-legacy.txt, ocserv-dtls12-cisco.txt):
 *   --dtls-ciphers LIST    X-DTLS-CipherSuite: LIST and no X-DTLS12-CipherSuite
 *   --dtls12-ciphers LIST  X-DTLS12-CipherSuite: LIST and no X-DTLS-CipherSuite
 *   both                   both headers with the given lists
 *   --no-dtls              no X-DTLS-* header at all
 *
 * Answer: one mode (§6.2). Anything unusable disables DTLS for this CONNECT with a reason the
 * session prints; the tunnel itself carries on over TLS. openconnect aborts the whole CONNECT
 * on a malformed X-DTLS-Session-ID (quirk 17) — we only give up DTLS, which is kinder and loses
 * nothing the gateway could have given us.
 */
import { DEFAULT_PSK_SUITES, DTLS0_9, dtlsDataMtu, lookupDtlsCipherName, supportedDtlsCipherNames, type DtlsCipherHeader, type DtlsSetup } from '../dtls/index.js';
import type { HttpHeaders } from '../protocol/http.js';

/** openconnect's default X-DTLS-CipherSuite, restricted to what src/dtls runs (§4.1, §6.6). */
export const DEFAULT_DTLS_CIPHERS: readonly string[] = ['PSK-NEGOTIATE', 'OC-DTLS1_2-AES256-GCM', 'OC-DTLS1_2-AES128-GCM', 'AES256-SHA', 'AES128-SHA'];
/** openconnect's X-DTLS12-CipherSuite (§10.5 item 6). */
export const DEFAULT_DTLS12_CIPHERS: readonly string[] = ['ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-GCM-SHA256'];

/** What the command line asks for. */
export interface DtlsOfferOptions {
  /** --dtls-ciphers, colon-separated */
  dtlsCiphers?: string;
  /** --dtls12-ciphers, colon-separated */
  dtls12Ciphers?: string;
}

export interface DtlsOffer {
  masterSecret: Buffer;
  dtlsCiphers: string[];
  dtls12Ciphers: string[];
  /** request headers, in order */
  headers: Array<[string, string]>;
}

/**
 * A --dtls-ciphers / --dtls12-ciphers value checked against the names src/dtls can run, so the
 * gateway can never pick one we cannot handshake. Throws Error with the supported names.
 */
export function parseCipherList(header: DtlsCipherHeader, value: string, option: string): string[] {
  const names = value.split(':').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new Error(`${option}: empty list`);
  for (const n of names) {
    if (!lookupDtlsCipherName(header, n)) throw new Error(`${option}: unsupported DTLS cipher "${n}" (supported: ${supportedDtlsCipherNames(header).join(', ')})`);
  }
  return names;
}

export function buildDtlsOffer(o: DtlsOfferOptions, random: (n: number) => Buffer): DtlsOffer {
  const only12 = o.dtls12Ciphers !== undefined && o.dtlsCiphers === undefined;
  const onlyLegacy = o.dtlsCiphers !== undefined && o.dtls12Ciphers === undefined;
  const dtlsCiphers = only12 ? [] : o.dtlsCiphers !== undefined ? parseCipherList('X-DTLS-CipherSuite', o.dtlsCiphers, '--dtls-ciphers') : [...DEFAULT_DTLS_CIPHERS];
  const dtls12Ciphers = onlyLegacy ? [] : o.dtls12Ciphers !== undefined ? parseCipherList('X-DTLS12-CipherSuite', o.dtls12Ciphers, '--dtls12-ciphers') : [...DEFAULT_DTLS12_CIPHERS];
  const masterSecret = random(48);
  const headers: Array<[string, string]> = [['X-DTLS-Master-Secret', masterSecret.toString('hex').toUpperCase()]];
  if (dtlsCiphers.length) headers.push(['X-DTLS-CipherSuite', dtlsCiphers.join(':')]);
  if (dtls12Ciphers.length) headers.push(['X-DTLS12-CipherSuite', dtls12Ciphers.join(':')]);
  return { masterSecret, dtlsCiphers, dtls12Ciphers, headers };
}

/** The mode the gateway chose, with everything needed to run it. */
export interface DtlsPlan {
  setup: DtlsSetup;
  /** response header that named the mode */
  header: DtlsCipherHeader;
  port: number;
  /** X-DTLS-DPD / -Keepalive, seconds (CSTP's values when absent) */
  dpd: number;
  keepalive: number;
  /** X-DTLS-MTU, or null (PSK-NEGOTIATE: ocserv sends none, §6.7) */
  mtu: number | null;
  /** resume modes: X-DTLS-Session-ID (32 bytes) and our master secret */
  sessionId: Buffer | null;
  masterSecret: Buffer;
  /** PSK-NEGOTIATE: X-DTLS-App-ID (1..32 bytes) */
  appId: Buffer | null;
}

export type DtlsAnswer = { ok: true; plan: DtlsPlan } | { ok: false; reason: string };

function no(reason: string): DtlsAnswer {
  return { ok: false, reason };
}

function intHeader(h: HttpHeaders, name: string, min: number, max: number): number | null {
  const v = h.get(name)?.trim();
  if (v === undefined || !/^\d{1,6}$/.test(v)) return null;
  const n = Number(v);
  return n >= min && n <= max ? n : null;
}

export function parseDtlsAnswer(h: HttpHeaders, offer: DtlsOffer, cstp: { dpd: number; keepalive: number }): DtlsAnswer {
  // The header name decides the version for the legacy names (§6.2): X-DTLS12 wins if both came.
  const d12 = h.get('X-DTLS12-CipherSuite')?.trim();
  const d = h.get('X-DTLS-CipherSuite')?.trim();
  const header: DtlsCipherHeader = d12 !== undefined ? 'X-DTLS12-CipherSuite' : 'X-DTLS-CipherSuite';
  const name = d12 ?? d;
  if (name === undefined) return no('the gateway offered no DTLS');
  const offered = header === 'X-DTLS12-CipherSuite' ? offer.dtls12Ciphers : offer.dtlsCiphers;
  const setup = offered.includes(name) ? lookupDtlsCipherName(header, name) : null;
  if (!setup) return no(`the gateway chose ${header}: ${name}, which we did not offer`);
  const encoding = h.get('X-DTLS-Content-Encoding');
  if (encoding) return no(`the gateway chose DTLS compression "${encoding}", which was not offered`);
  const port = intHeader(h, 'X-DTLS-Port', 1, 65535);
  if (port === null) return no(`no usable X-DTLS-Port (${h.get('X-DTLS-Port') ?? 'missing'})`);
  let sessionId: Buffer | null = null;
  let appId: Buffer | null = null;
  if (setup.mode === 'resume') {
    const sid = h.get('X-DTLS-Session-ID')?.trim() ?? '';
    // Exactly 64 hex digits (quirk 17): anything else cannot be the 32-byte session id.
    if (!/^[0-9a-fA-F]{64}$/.test(sid)) return no(`X-DTLS-Session-ID is not 64 hex digits (${sid ? `${sid.length} characters` : 'missing'})`);
    sessionId = Buffer.from(sid, 'hex');
  } else {
    const aid = h.get('X-DTLS-App-ID')?.trim() ?? '';
    // ocserv sends 64 lower-case hex digits; treat hex case-insensitively (§10.4 item 8).
    if (!/^(?:[0-9a-fA-F]{2}){1,32}$/.test(aid)) return no(`X-DTLS-App-ID is not 1..32 bytes of hex (${aid ? `${aid.length} characters` : 'missing'})`);
    appId = Buffer.from(aid, 'hex');
  }
  return {
    ok: true,
    plan: {
      setup,
      header,
      port,
      dpd: intHeader(h, 'X-DTLS-DPD', 0, 86400) ?? cstp.dpd,
      keepalive: intHeader(h, 'X-DTLS-Keepalive', 0, 86400) ?? cstp.keepalive,
      mtu: intHeader(h, 'X-DTLS-MTU', 576, 65535),
      sessionId,
      masterSecret: offer.masterSecret,
      appId,
    },
  };
}

/**
 * The TUN MTU while DTLS is expected ([SEED] §5: the adapter comes up with X-DTLS-MTU). Without
 * X-DTLS-MTU (PSK-NEGOTIATE) it is computed from the link MTU as openconnect does (§6.9), for
 * the suite we prefer (AES-256-GCM: what ocserv picks); `suiteId` gives the negotiated one.
 */
export function dtlsTunMtu(plan: DtlsPlan, linkMtu: number, ipv6Gateway: boolean, suiteId?: number): number {
  if (plan.mtu !== null) return plan.mtu;
  const suite = suiteId ?? (plan.setup.mode === 'resume' ? plan.setup.suite : DEFAULT_PSK_SUITES[0]!);
  return dtlsDataMtu(suite, linkMtu, ipv6Gateway ? 40 : 20);
}

/** "PSK-NEGOTIATE", "DTLS 0.9 AES128-SHA", "DTLS 1.2 AES256-GCM-SHA384" for log lines. */
export function planLabel(p: DtlsPlan): string {
  if (p.setup.mode === 'psk') return 'PSK-NEGOTIATE';
  return `${p.setup.version === DTLS0_9 ? 'DTLS 0.9' : 'DTLS 1.2'} ${p.setup.name}`;
}
