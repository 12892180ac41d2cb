/**
 * Step 5 of the flow ([SEED] §5): `CONNECT /CSCOSSLC/tunnel` with the cookie and the X-CSTP-*
 * request headers openconnect sends (connect-headers.ts formats them), then every response
 * header read into TunnelParams. After a 200 the same TLS stream carries CSTP frames.
 *
 * DTLS (step 6): the X-DTLS-* offer goes in the same request (dtls-offer.ts, a fresh master secret
 * every CONNECT) and the answer is read here, with the PSK exported from this TLS connection for
 * PSK-NEGOTIATE (§6.7). No X-CSTP-Accept-Encoding (we implement no compression, and a gateway
 * must not compress what we did not offer, §7.1).
 */
import { randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { ConnectResponseError, formatConnectRequest, parseConnectResponse, type TunnelParams } from '../protocol/connect-headers.js';
import { clientRequestedMtu } from '../protocol/mtu.js';
import { baseMtuFor } from './base-mtu.js';
import { buildDtlsOffer, parseDtlsAnswer, type DtlsAnswer, type DtlsOfferOptions } from './dtls-offer.js';
import { ClientError } from './errors.js';
import type { GatewayUrl } from './gateway-url.js';
import { ConnectionClosedError, type HttpsConnection } from './https-connection.js';

/** 401 on CONNECT: the session is gone; reconnecting with this cookie is pointless (§4.2). */
export class CookieRejectedError extends ClientError {
  constructor(message: string) {
    super(message);
    this.name = 'CookieRejectedError';
  }
}

export interface CstpConnectOptions {
  conn: HttpsConnection;
  url: GatewayUrl;
  userAgent: string;
  cookie: string;
  ipv6: boolean;
  /** previous addresses, as hints on a reconnect (§8.5 step 3) */
  addressHints?: string[];
  /** override the detected base MTU */
  baseMtu?: number;
  /** the DTLS offer's options; null = --no-dtls (no X-DTLS-* headers) */
  dtls: DtlsOfferOptions | null;
}

export interface CstpConnected {
  params: TunnelParams;
  socket: TLSSocket;
  /** CSTP bytes that arrived with the response head */
  leftover: Buffer;
  baseMtu: number;
  /** every X-CSTP-* answer header without the prefix, for CISCO_CSTP_OPTIONS */
  cstpHeaders: Array<[string, string]>;
  /** the DTLS mode the gateway chose, or why there is none */
  dtls: DtlsAnswer;
  /** PSK-NEGOTIATE: exportKeyingMaterial of this connection (§6.7); else null */
  psk: Buffer | null;
}

export function clientHostname(): string {
  // ocserv validates X-CSTP-Hostname; keep to a plain host label.
  const h = osHostname().split('.')[0]!.replace(/[^A-Za-z0-9-]/g, '');
  return h || 'localhost';
}

export async function cstpConnect(o: CstpConnectOptions): Promise<CstpConnected> {
  const socket = o.conn.socket;
  const baseMtu = o.baseMtu ?? baseMtuFor(socket.localAddress, socket.remoteAddress);
  const offer = o.dtls ? buildDtlsOffer(o.dtls, randomBytes) : null;
  const head = formatConnectRequest({
    host: o.url.hostHeader,
    userAgent: o.userAgent,
    cookie: o.cookie,
    hostname: clientHostname(),
    baseMtu,
    mtu: clientRequestedMtu(baseMtu),
    ipv6: o.ipv6,
    ...(o.addressHints?.length ? { addressHints: o.addressHints } : {}),
    ...(offer ? { extra: offer.headers } : {}),
  });
  let res;
  try {
    res = await o.conn.request(head, undefined, { connect: true, dumpText: '' });
  } catch (e) {
    if (e instanceof ConnectionClosedError) throw new ClientError(`CONNECT failed: ${e.message}`);
    throw e;
  }
  if (res.status === 401) {
    o.conn.destroy();
    throw new CookieRejectedError(`the gateway rejected the session cookie (HTTP 401 ${res.reason}): the session expired or was ended`);
  }
  if (res.status !== 200) {
    o.conn.destroy();
    const reason = res.headers.get('x-reason');
    throw new ClientError(`the gateway refused the tunnel: HTTP ${res.status} ${res.reason}${reason ? ` (${reason})` : ''}`);
  }
  let params: TunnelParams;
  try {
    params = parseConnectResponse(res.headers);
  } catch (e) {
    o.conn.destroy();
    if (e instanceof ConnectResponseError) throw new ClientError(`the gateway's tunnel parameters are unusable: ${e.message}`);
    throw e;
  }
  const encoding = res.headers.get('x-cstp-content-encoding');
  if (encoding) {
    // We offered none; openconnect aborts on an encoding it did not ask for (quirk 18).
    o.conn.destroy();
    throw new ClientError(`the gateway chose CSTP compression "${encoding}", which was not offered`);
  }
  const dtls: DtlsAnswer = offer ? parseDtlsAnswer(res.headers, offer, params) : { ok: false, reason: 'disabled (--no-dtls)' };
  const psk = dtls.ok && dtls.plan.setup.mode === 'psk' ? exportPsk(socket) : null;
  const leftover = o.conn.detach();
  // Until the session attaches its CSTP channel (after awaits: pre-init script, TUN), CSTP bytes
  // must wait in the socket: a flowing stream without a 'data' listener drops them, and an error
  // without a listener would throw. The session resumes it (session.ts attach).
  socket.pause();
  socket.on('error', () => undefined); // the channel reports errors (and 'close') itself
  const cstpHeaders = res.headers.list.filter(([k]) => /^X-CSTP-/i.test(k)).map(([k, v]): [string, string] => [k.slice(7), v]);
  return { params, socket, leftover, baseMtu, cstpHeaders, dtls, psk };
}

/**
 * PSK-NEGOTIATE's key: the TLS exporter, label EXPORTER-openconnect-psk, 32 bytes and NO context
 * (§6.7; for TLS 1.2 "no context" and "empty context" differ). Node's typings demand the context
 * argument, so it is called untyped, as the gateway does (src/gateway/tunnel-setup.ts).
 */
export function exportPsk(sock: TLSSocket): Buffer {
  const exporter = sock.exportKeyingMaterial as unknown as (length: number, label: string) => Buffer;
  return exporter.call(sock, 32, 'EXPORTER-openconnect-psk');
}
