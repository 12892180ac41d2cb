/**
 * The gateway URL a user types: `https://vpn.example.com[:port][/group-path]` or a bare host, as
 * openconnect accepts. The path is Cisco's "group-url" (§1.2 item 8): the first POST goes there.
 */
import { isIP } from 'node:net';

export interface GatewayUrl {
  /** host name or IP literal (IPv6 without brackets) */
  host: string;
  port: number;
  /** request path of the first POST, starting with '/' */
  path: string;
  /** value of the Host header: host, plus :port when not 443 (§1.1) */
  hostHeader: string;
  /** SNI name; undefined for IP literals (TLS forbids them in SNI) */
  servername?: string;
  /** `https://host[:port]/path` for `<group-access>` (§2.2) */
  groupAccess: string;
}

export class GatewayUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GatewayUrlError';
  }
}

export function parseGatewayUrl(input: string): GatewayUrl {
  const text = input.trim();
  if (!text) throw new GatewayUrlError('no gateway URL given');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new GatewayUrlError(`not a valid gateway URL: ${input}`);
  }
  if (u.protocol !== 'https:') throw new GatewayUrlError(`only https:// gateways are supported (got ${u.protocol}//)`);
  if (u.username || u.password) throw new GatewayUrlError('put the user name in --user, not in the URL');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new GatewayUrlError(`no host in ${input}`);
  const port = u.port ? Number(u.port) : 443;
  const bracketed = isIP(host) === 6 ? `[${host}]` : host;
  const hostHeader = port === 443 ? bracketed : `${bracketed}:${port}`;
  const path = u.pathname && u.pathname !== '' ? u.pathname : '/';
  const out: GatewayUrl = { host, port, path, hostHeader, groupAccess: `https://${hostHeader}${path}` };
  if (isIP(host) === 0) out.servername = host;
  return out;
}

/** The same gateway with another path (a form action, §1.2 item 8) or another URL (redirect). */
export function resolveOn(base: GatewayUrl, target: string): GatewayUrl {
  const u = new URL(target, `https://${base.hostHeader}${base.path}`);
  const next = parseGatewayUrl(u.toString());
  return { ...next, path: u.pathname + u.search };
}

export function sameHost(a: GatewayUrl, b: GatewayUrl): boolean {
  return a.host.toLowerCase() === b.host.toLowerCase() && a.port === b.port;
}
