/**
 * The CONNECT /CSCOSSLC/tunnel exchange as typed values (PROTOCOL.md §4): what the client asks
 * for, what the gateway assigns. Header names are written exactly as peers expect them
 * (openconnect matches response names case-sensitively, ocserv request names likewise, §1.2).
 */
import type { HttpHeaders } from './http.js';

export const CONNECT_PATH = '/CSCOSSLC/tunnel';
export const CSTP_PROTOCOL_SHIBBOLETH = 'Copyright (c) 2004 Cisco Systems, Inc.';

/** What a client sends, as the gateway reads it. */
export interface ConnectRequest {
  cookie: string | null;
  userAgent: string;
  hostname?: string;
  baseMtu?: number;
  mtu?: number;
  addressTypes: string[];
  fullIpv6: boolean;
  /** X-CSTP-Address hints from a reconnecting client */
  addressHints: string[];
  cstpAcceptEncoding: string[];
  dtlsMasterSecret?: string;
  dtlsCipherSuites: string[];
  dtls12CipherSuites: string[];
  dtlsAcceptEncoding: string[];
}

function list(v: string | undefined, sep: string | RegExp = ','): string[] {
  if (!v) return [];
  return v.split(sep).map((s) => s.trim()).filter((s) => s.length > 0);
}

function intOrUndefined(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,6}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

export function parseConnectRequest(h: HttpHeaders, cookieName = 'webvpn'): ConnectRequest {
  let cookie: string | null = null;
  for (const c of h.getAll('cookie')) {
    for (const part of c.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === cookieName) cookie ??= part.slice(eq + 1).trim();
    }
  }
  const hostname = h.get('x-cstp-hostname');
  const req: ConnectRequest = {
    cookie,
    userAgent: h.get('user-agent') ?? '',
    addressTypes: list(h.get('x-cstp-address-type')),
    fullIpv6: (h.get('x-cstp-full-ipv6-capability') ?? '').toLowerCase() === 'true',
    addressHints: h.getAll('x-cstp-address'),
    cstpAcceptEncoding: list(h.get('x-cstp-accept-encoding')),
    dtlsCipherSuites: list(h.get('x-dtls-ciphersuite'), ':'),
    dtls12CipherSuites: list(h.get('x-dtls12-ciphersuite'), ':'),
    dtlsAcceptEncoding: list(h.get('x-dtls-accept-encoding')),
  };
  if (hostname !== undefined) req.hostname = hostname;
  const base = intOrUndefined(h.get('x-cstp-base-mtu'));
  if (base !== undefined) req.baseMtu = base;
  const mtu = intOrUndefined(h.get('x-cstp-mtu'));
  if (mtu !== undefined) req.mtu = mtu;
  const ms = h.get('x-dtls-master-secret');
  if (ms !== undefined) req.dtlsMasterSecret = ms;
  return req;
}

export interface ConnectRequestOptions {
  host: string;
  userAgent: string;
  cookie: string;
  hostname: string;
  baseMtu: number;
  mtu: number;
  ipv6?: boolean;
  addressHints?: string[];
  /** extra headers after the standard ones (X-DTLS-* offers, once DTLS exists) */
  extra?: Array<[string, string]>;
}

/** The CONNECT request head, in openconnect's order and spelling (§4.1). */
export function formatConnectRequest(o: ConnectRequestOptions): string {
  const lines = [
    `CONNECT ${CONNECT_PATH} HTTP/1.1`,
    `Host: ${o.host}`,
    `User-Agent: ${o.userAgent}`,
    `Cookie: webvpn=${o.cookie}`,
    'X-CSTP-Version: 1',
    `X-CSTP-Hostname: ${o.hostname}`,
    `X-CSTP-Protocol: ${CSTP_PROTOCOL_SHIBBOLETH}`,
    `X-CSTP-Base-MTU: ${o.baseMtu}`,
    `X-CSTP-MTU: ${o.mtu}`,
    `X-CSTP-Address-Type: ${o.ipv6 ? 'IPv6,IPv4' : 'IPv4'}`,
  ];
  if (o.ipv6) lines.push('X-CSTP-Full-IPv6-Capability: true');
  for (const a of o.addressHints ?? []) lines.push(`X-CSTP-Address: ${a}`);
  for (const [k, v] of o.extra ?? []) lines.push(`${k}: ${v}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

/** Seconds, or null for "none" (no limit). */
export type Seconds = number | null;

/** What the gateway assigns (§4.3). Shared by both roles. */
export interface TunnelParams {
  address: string;
  netmask: string;
  addressIp6?: string;
  hostname?: string;
  serverName?: string;
  dns: string[];
  nbns: string[];
  defaultDomain?: string;
  splitDns: string[];
  /** "a.b.c.d/m.m.m.m" as Cisco and ocserv write them; empty = full tunnel */
  splitInclude: string[];
  splitExclude: string[];
  splitIncludeIp6: string[];
  splitExcludeIp6: string[];
  tunnelAllDns?: boolean;
  banner?: string;
  dpd: number;
  keepalive: number;
  idleTimeout: Seconds;
  sessionTimeout: Seconds;
  disconnectedTimeout: Seconds;
  rekeyTime?: number;
  rekeyMethod?: string;
  /** X-CSTP-MTU: data MTU of the TLS path */
  mtu: number;
  baseMtu?: number;
  /** headers this module does not model, kept for display / vpnc-script */
  extra: Array<[string, string]>;
}

function secondsValue(s: Seconds): string {
  return s === null ? 'none' : String(s);
}

/**
 * Banner: one header line, so line breaks and other unsafe bytes are %-encoded
 * (openconnect percent-decodes X-CSTP-Banner, `script.c` set_banner; §4.3).
 */
export function encodeBanner(text: string): string {
  return Array.from(Buffer.from(text, 'utf8'))
    .map((b) => (b < 0x20 || b === 0x25 || b >= 0x7f ? '%' + b.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(b)))
    .join('');
}

export function decodeBanner(text: string): string {
  // Works on the UTF-8 bytes: '%' is ASCII, so it never sits inside a multi-byte character, and
  // characters outside the BMP stay whole (decoding one UTF-16 unit at a time turned each into
  // two U+FFFD; the connect-headers fuzz target now checks that raw text decodes to itself).
  const raw = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const hi = hexValue(raw[i + 1]);
    const lo = hexValue(raw[i + 2]);
    if (raw[i] === 0x25 && hi >= 0 && lo >= 0) {
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else {
      out[n++] = raw[i]!;
    }
  }
  return out.toString('utf8', 0, n);
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

/** Response headers for a successful CONNECT, in the order ocserv sends them (§4.4). */
export function formatConnectResponseHeaders(p: TunnelParams): Array<[string, string]> {
  const h: Array<[string, string]> = [['X-CSTP-Version', '1']];
  if (p.serverName) h.push(['X-CSTP-Server-Name', p.serverName]);
  h.push(['X-CSTP-Protocol', CSTP_PROTOCOL_SHIBBOLETH]);
  if (p.hostname) h.push(['X-CSTP-Hostname', p.hostname]);
  h.push(['X-CSTP-DPD', String(p.dpd)]);
  if (p.defaultDomain) h.push(['X-CSTP-Default-Domain', p.defaultDomain]);
  h.push(['X-CSTP-Address', p.address], ['X-CSTP-Netmask', p.netmask]);
  if (p.addressIp6) h.push(['X-CSTP-Address-IP6', p.addressIp6]);
  for (const d of p.dns) h.push(['X-CSTP-DNS', d]);
  for (const d of p.nbns) h.push(['X-CSTP-NBNS', d]);
  for (const d of p.splitDns) h.push(['X-CSTP-Split-DNS', d]);
  for (const r of p.splitInclude) h.push(['X-CSTP-Split-Include', r]);
  for (const r of p.splitExclude) h.push(['X-CSTP-Split-Exclude', r]);
  for (const r of p.splitIncludeIp6) h.push(['X-CSTP-Split-Include-IP6', r]);
  for (const r of p.splitExcludeIp6) h.push(['X-CSTP-Split-Exclude-IP6', r]);
  if (p.tunnelAllDns !== undefined) h.push(['X-CSTP-Tunnel-All-DNS', String(p.tunnelAllDns)]);
  h.push(['X-CSTP-Keepalive', String(p.keepalive)]);
  h.push(['X-CSTP-Idle-Timeout', secondsValue(p.idleTimeout)]);
  h.push(['X-CSTP-Session-Timeout', secondsValue(p.sessionTimeout)]);
  h.push(['X-CSTP-Disconnected-Timeout', secondsValue(p.disconnectedTimeout)]);
  if (p.rekeyMethod) h.push(['X-CSTP-Rekey-Method', p.rekeyMethod]);
  if (p.rekeyTime !== undefined) h.push(['X-CSTP-Rekey-Time', String(p.rekeyTime)]);
  h.push(['X-CSTP-Keep', 'true'], ['X-CSTP-TCP-Keepalive', 'true'], ['X-CSTP-License', 'accept']);
  for (const [k, v] of p.extra) h.push([k, v]);
  if (p.baseMtu !== undefined) h.push(['X-CSTP-Base-MTU', String(p.baseMtu)]);
  h.push(['X-CSTP-MTU', String(p.mtu)]);
  if (p.banner) h.push(['X-CSTP-Banner', encodeBanner(p.banner)]);
  return h;
}

export class ConnectResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectResponseError';
  }
}

function parseSeconds(v: string | undefined): Seconds {
  if (v === undefined) return null;
  const t = v.trim().toLowerCase();
  if (t === 'none' || t === '' || t === '0') return null;
  const n = Number(t);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

/**
 * Reads a CONNECT answer's headers (client side). Throws ConnectResponseError for what
 * openconnect also refuses: no address, no MTU (§4.3).
 */
export function parseConnectResponse(h: HttpHeaders): TunnelParams {
  const known = new Set<string>();
  const one = (name: string): string | undefined => {
    known.add(name.toLowerCase());
    return h.get(name);
  };
  const all = (name: string): string[] => {
    known.add(name.toLowerCase());
    return h.getAll(name);
  };
  let address = one('X-CSTP-Address');
  let addressIp6 = one('X-CSTP-Address-IP6');
  // A non-full-IPv6 answer may put an IPv6 literal in X-CSTP-Address (§4.3).
  if (address?.includes(':')) {
    addressIp6 ??= address;
    address = undefined;
  }
  if (!address && !addressIp6) throw new ConnectResponseError('the gateway assigned no IP address (no X-CSTP-Address)');
  const mtuText = one('X-CSTP-MTU');
  const mtu = mtuText === undefined ? NaN : Number(mtuText);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new ConnectResponseError(`the gateway sent no usable MTU (X-CSTP-MTU: ${mtuText ?? 'missing'})`);
  const num = (name: string, dflt: number): number => {
    const n = Number(one(name));
    return Number.isFinite(n) && n >= 0 ? n : dflt;
  };
  const p: TunnelParams = {
    address: address ?? '',
    netmask: one('X-CSTP-Netmask') ?? '255.255.255.255',
    dns: [...all('X-CSTP-DNS'), ...all('X-CSTP-DNS-IP6')],
    nbns: all('X-CSTP-NBNS'),
    splitDns: all('X-CSTP-Split-DNS'),
    splitInclude: all('X-CSTP-Split-Include'),
    splitExclude: all('X-CSTP-Split-Exclude'),
    splitIncludeIp6: all('X-CSTP-Split-Include-IP6'),
    splitExcludeIp6: all('X-CSTP-Split-Exclude-IP6'),
    dpd: num('X-CSTP-DPD', 0),
    keepalive: num('X-CSTP-Keepalive', 0),
    idleTimeout: parseSeconds(one('X-CSTP-Idle-Timeout')),
    sessionTimeout: parseSeconds(one('X-CSTP-Session-Timeout')),
    disconnectedTimeout: parseSeconds(one('X-CSTP-Disconnected-Timeout')),
    mtu,
    extra: [],
  };
  if (addressIp6) p.addressIp6 = addressIp6;
  const optional: Array<[keyof TunnelParams, string]> = [
    ['hostname', 'X-CSTP-Hostname'],
    ['serverName', 'X-CSTP-Server-Name'],
    ['rekeyMethod', 'X-CSTP-Rekey-Method'],
  ];
  for (const [key, name] of optional) {
    const v = one(name);
    if (v !== undefined) (p as unknown as Record<string, unknown>)[key] = v;
  }
  const domain = one('X-CSTP-Default-Domain');
  if (domain) p.defaultDomain = domain.replace(/[,;]/g, ' ').replace(/\s+/g, ' ').trim();
  const banner = one('X-CSTP-Banner');
  if (banner !== undefined) p.banner = decodeBanner(banner);
  const tad = one('X-CSTP-Tunnel-All-DNS');
  if (tad !== undefined) p.tunnelAllDns = tad.toLowerCase() === 'true';
  const rekey = one('X-CSTP-Rekey-Time');
  if (rekey !== undefined && Number.isFinite(Number(rekey))) p.rekeyTime = Number(rekey);
  const base = one('X-CSTP-Base-MTU');
  if (base !== undefined && Number.isInteger(Number(base))) p.baseMtu = Number(base);
  for (const [k, v] of h.list) if (!known.has(k.toLowerCase())) p.extra.push([k, v]);
  return p;
}
