/**
 * Request heads for the auth exchange and the downloader, in openconnect's order and spelling
 * (PROTOCOL.md §1.3; ocserv looks names up case-sensitively, §1.2 item 2).
 *
 * `X-Support-HTTP-Auth: true` is sent as §10.5 asks (some ASAs need it for the right first
 * form, quirk 3); a gateway that then wants SPNEGO and offers a fallback gets the request again
 * without it (auth-flow.ts). Not sent, on purpose: `X-AnyConnect-Platform` (newer Cisco gateways
 * reject it, quirk 2), STRAP keys (we do not implement STRAP-Verify, §3.4).
 */
import { formatRequest } from './https-connection.js';

/**
 * X-Pad so that body length + pad length is a multiple of 64 and a password's length does not
 * show in the record size (`http.c` do_https_request, §1.2 item 6).
 */
export function xPad(bodyBytes: number): string {
  return '0'.repeat(64 * (1 + Math.floor(bodyBytes / 64)) - bodyBytes);
}

export interface AuthRequestOptions {
  method: 'POST' | 'GET';
  target: string;
  hostHeader: string;
  userAgent: string;
  /** all jar cookies (§1.2 item 5) */
  cookie?: string;
  /** XML body (POST) */
  body?: string;
  /** X-Support-HTTP-Auth: true (default on; off after a SPNEGO fallback) */
  httpAuth?: boolean;
}

export function authRequestHead(o: AuthRequestOptions): string {
  const h: Array<[string, string]> = [
    ['Host', o.hostHeader],
    ['User-Agent', o.userAgent],
  ];
  if (o.cookie) h.push(['Cookie', o.cookie]);
  h.push(['Accept', '*/*'], ['Accept-Encoding', 'identity'], ['X-Transcend-Version', '1'], ['X-Aggregate-Auth', '1']);
  if (o.httpAuth !== false) h.push(['X-Support-HTTP-Auth', 'true']);
  if (o.body !== undefined) {
    h.push(['X-Pad', xPad(Buffer.byteLength(o.body))], ['Content-Type', 'application/xml; charset=utf-8']);
  }
  return formatRequest(o.method, o.target, h, o.body);
}
